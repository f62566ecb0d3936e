// Deterministic random numbers for `asl synth`: a counter-free generator (xoshiro256**)
// seeded from a hash of (seed, tags), so every clip, stream and prototype has its own
// stream of numbers that does not depend on what else is drawn. Integer arithmetic only
// up to the final scaling, so the bits do not depend on the standard library.
#pragma once

#include <cmath>
#include <cstdint>
#include <string_view>

namespace asl::data::synth_random {

inline uint64_t splitmix64(uint64_t x) {
  x += 0x9e3779b97f4a7c15ull;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

// FNV-1a of the bytes, then mixed into `h`: combines a seed with string tags (clip ids).
inline uint64_t mix(uint64_t h, std::string_view tag) {
  uint64_t f = 0xcbf29ce484222325ull;
  for (const char c : tag) {
    f ^= static_cast<unsigned char>(c);
    f *= 0x100000001b3ull;
  }
  return splitmix64(h ^ splitmix64(f + tag.size()));
}

inline uint64_t mix(uint64_t h, uint64_t value) { return splitmix64(h ^ splitmix64(value ^ 0x5bd1e995ull)); }

class Rng {
 public:
  explicit Rng(uint64_t seed) {
    for (uint64_t& word : s_) word = seed = splitmix64(seed);
  }

  uint64_t next() {
    const uint64_t result = rotl(s_[1] * 5, 7) * 9;
    const uint64_t t = s_[1] << 17;
    s_[2] ^= s_[0];
    s_[3] ^= s_[1];
    s_[1] ^= s_[2];
    s_[0] ^= s_[3];
    s_[2] ^= t;
    s_[3] = rotl(s_[3], 45);
    return result;
  }

  // Uniform in [0, 1) with 53 random bits.
  double uniform() { return static_cast<double>(next() >> 11) * 0x1.0p-53; }
  double uniform(double lo, double hi) { return lo + (hi - lo) * uniform(); }
  // Uniform integer in [0, n), n > 0 (multiply-shift; the bias is below 2^-32 for small n).
  int64_t below(int64_t n) {
    return static_cast<int64_t>((next() >> 32) * static_cast<uint64_t>(n) >> 32);
  }
  bool chance(double p) { return uniform() < p; }

  // Standard normal (Box-Muller, one value per call): for the few draws of the layout.
  double normal() {
    const double u1 = 1.0 - uniform();  // (0, 1]
    const double u2 = uniform();
    return std::sqrt(-2.0 * std::log(u1)) * std::cos(6.283185307179586 * u2);
  }

  // Approximately standard normal from one 64-bit draw: the sum of four 16-bit uniforms
  // (Irwin-Hall), centred and scaled to unit variance. Bounded by +-3.46; used for the
  // millions of noise values, where its speed matters and its shape does not.
  float fast_normal() {
    const uint64_t r = next();
    const uint32_t sum = static_cast<uint32_t>(r & 0xffff) + static_cast<uint32_t>((r >> 16) & 0xffff) +
                         static_cast<uint32_t>((r >> 32) & 0xffff) + static_cast<uint32_t>(r >> 48);
    // sum + 2 in [2, 262142]: (x / 65536 - 2) has variance 4/12 after centring.
    constexpr float kScale = 1.7320508f / 65536.0f;  // sqrt(3) / 2^16
    return (static_cast<float>(sum) + 2.0f - 131072.0f) * kScale;
  }

 private:
  static uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }
  uint64_t s_[4];
};

}  // namespace asl::data::synth_random
