// Python's `random` module for integer seeds: MT19937 seeded by init_by_array, getrandbits,
// randint, random. The reference draws its training crops with random.randint, so the same
// seed gives the same crops here. Tensor-free.
#pragma once

#include <array>
#include <cstdint>

namespace asl::data {

class PyRandom {
 public:
  explicit PyRandom(uint64_t seed = 0) { seed_int(seed); }

  // random.seed(n) for a non-negative integer n < 2^64.
  void seed_int(uint64_t seed);
  // random.getrandbits(k), 0 < k <= 64.
  uint64_t getrandbits(int k);
  // random.randint(a, b): uniform in [a, b] (b - a < 2^63).
  int64_t randint(int64_t a, int64_t b);
  // random.random(): uniform in [0, 1) with 53 bits.
  double random();

 private:
  uint32_t next32();

  std::array<uint32_t, 624> mt_{};
  int index_ = 624;
};

// A well-mixed 64-bit seed from several values (splitmix64), for per-sample generators.
uint64_t mix_seed(uint64_t a, uint64_t b, uint64_t c = 0);

}  // namespace asl::data
