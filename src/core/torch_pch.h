// Precompiled header for every target that handles tensors (see cmake/AslTorchTarget.cmake).
#pragma once

#include <torch/torch.h>
