// placeholder until the data layer lands
#include "data/pack.h"
