#include "core/bench.h"
#include "core/error.h"

namespace asl::bench {

std::string run_nms_bench(const Options&) { throw NotImplemented("bench --what nms"); }

}  // namespace asl::bench
