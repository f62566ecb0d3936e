#include "data/half_batch.h"

#include <cstring>

#include "data/half.h"

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <cpuid.h>
#include <immintrin.h>
#define ASL_HAVE_F16C_PATH 1
#endif

namespace asl::data {
namespace {

#ifdef ASL_HAVE_F16C_PATH
__attribute__((target("avx,f16c"))) void halves_to_floats_f16c(const uint16_t* in, float* out,
                                                               size_t n) {
  size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const __m128i h = _mm_loadu_si128(reinterpret_cast<const __m128i*>(in + i));
    _mm256_storeu_ps(out + i, _mm256_cvtph_ps(h));
  }
  for (; i < n; ++i) out[i] = half_to_float(in[i]);
}

__attribute__((target("avx,f16c"))) void floats_to_halves_f16c(const float* in, uint16_t* out,
                                                               size_t n) {
  size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const __m128i h = _mm256_cvtps_ph(_mm256_loadu_ps(in + i), _MM_FROUND_TO_NEAREST_INT);
    _mm_storeu_si128(reinterpret_cast<__m128i*>(out + i), h);
  }
  for (; i < n; ++i) out[i] = float_to_half(in[i]);
}

// In place: output i (bytes [4i, 4i+4)) never reaches an input not yet read (bytes from
// 2n+2i on), for whole vectors and the scalar tail alike. Loads and stores go through
// intrinsics or memcpy, which may alias.
__attribute__((target("avx,f16c"))) void expand_in_place_f16c(float* buf, size_t n) {
  const unsigned char* in = reinterpret_cast<const unsigned char*>(buf) + 2 * n;
  size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const __m128i h = _mm_loadu_si128(reinterpret_cast<const __m128i*>(in + 2 * i));
    _mm256_storeu_ps(buf + i, _mm256_cvtph_ps(h));
  }
  for (; i < n; ++i) {
    uint16_t h;
    std::memcpy(&h, in + 2 * i, 2);
    const float f = half_to_float(h);
    std::memcpy(buf + i, &f, 4);
  }
}

// CPUID leaf 1: F16C (ECX bit 29) and AVX (bit 28), and the OS saving the AVX state
// (OSXSAVE, bit 27, then XCR0 bits 1-2). By hand: clang has no "f16c" for
// __builtin_cpu_supports.
bool cpu_has_f16c() {
  static const bool has = [] {
    unsigned a = 0, b = 0, c = 0, d = 0;
    if (!__get_cpuid(1, &a, &b, &c, &d)) return false;
    const unsigned needed = (1u << 27) | (1u << 28) | (1u << 29);
    if ((c & needed) != needed) return false;
    unsigned lo = 0, hi = 0;
    __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    return (lo & 6u) == 6u;
  }();
  return has;
}
#else
bool cpu_has_f16c() { return false; }
#endif

}  // namespace

bool half_batch_uses_f16c() { return cpu_has_f16c(); }

void halves_to_floats(const uint16_t* in, float* out, size_t n) {
#ifdef ASL_HAVE_F16C_PATH
  if (cpu_has_f16c()) return halves_to_floats_f16c(in, out, n);
#endif
  for (size_t i = 0; i < n; ++i) out[i] = half_to_float(in[i]);
}

void expand_halves_in_place(float* buf, size_t n) {
#ifdef ASL_HAVE_F16C_PATH
  if (cpu_has_f16c()) return expand_in_place_f16c(buf, n);
#endif
  const unsigned char* in = reinterpret_cast<const unsigned char*>(buf) + 2 * n;
  for (size_t i = 0; i < n; ++i) {
    uint16_t h;
    std::memcpy(&h, in + 2 * i, 2);
    const float f = half_to_float(h);
    std::memcpy(buf + i, &f, 4);
  }
}

void floats_to_halves(const float* in, uint16_t* out, size_t n) {
#ifdef ASL_HAVE_F16C_PATH
  if (cpu_has_f16c()) return floats_to_halves_f16c(in, out, n);
#endif
  for (size_t i = 0; i < n; ++i) out[i] = float_to_half(in[i]);
}

}  // namespace asl::data
