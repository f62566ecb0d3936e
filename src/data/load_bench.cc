// placeholder until the data layer lands
#include "data/load_bench.h"

#include "core/error.h"

namespace asl::data {
std::string run_load_bench(const LoadBenchOptions&) { throw NotImplemented("bench --what load"); }
}  // namespace asl::data
