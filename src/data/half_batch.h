// Whole-buffer float16 <-> float32 conversion for the feature store. Uses the CPU's F16C
// instructions when present (about 5x faster than the scalar code of data/half.h, which
// would otherwise dominate reading a cached clip) and falls back to data/half.h. Both give
// the same results for finite values (round to nearest even).
#pragma once

#include <cstddef>
#include <cstdint>

namespace asl::data {

void halves_to_floats(const uint16_t* in, float* out, size_t n);
void floats_to_halves(const float* in, uint16_t* out, size_t n);

// `buf` has room for n floats and holds n halves in its last 2n bytes (where a reader put
// them); converts them to floats in place, front to back, without a second buffer.
void expand_halves_in_place(float* buf, size_t n);

// True when the F16C path is used on this machine (for tests and benchmark notes).
bool half_batch_uses_f16c();

}  // namespace asl::data
