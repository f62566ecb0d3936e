// placeholder until the data layer lands
#include "data/annotations.h"

#include "core/error.h"

namespace asl::data {
ClipAnnotations read_clip_annotations(const std::string&) { throw NotImplemented("clip annotations"); }
std::string summarize(const ClipAnnotations&) { throw NotImplemented("clip annotations"); }
}  // namespace asl::data
