// The order numpy's default argsort (kind="quicksort", an introsort) gives. The official
// evaluator sorts scores and tIoUs with it, and it is not stable: tied values come out in an
// order that depends on the algorithm, so matching the official numbers with ties needs the
// same algorithm, not just any sort.
#pragma once

#include <cstdint>
#include <vector>

namespace asl::eval {

// Indices that sort `values` ascending as numpy.argsort does (NaN last). The official code
// reverses this for a descending order: ties then come out in the reverse of this order.
std::vector<int64_t> numpy_argsort(const std::vector<double>& values);

}  // namespace asl::eval
