#include "core/bench.h"
#include "core/error.h"

namespace asl::bench {

std::string run_score_bench(const Options&) { throw NotImplemented("bench --what score"); }

}  // namespace asl::bench
