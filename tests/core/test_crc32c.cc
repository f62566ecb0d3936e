// CRC-32C, the feature store's checksum: the standard check value, continuation, and agreement
// with a bit-at-a-time computation from the polynomial's definition on every length and
// alignment the fast path distinguishes.
#include <gtest/gtest.h>

#include <cstdint>
#include <random>
#include <string>

#include "core/crc32c.h"

namespace asl {
namespace {

// The definition: reflected CRC with polynomial 0x82F63B78, one bit at a time.
uint32_t crc32c_by_bits(const unsigned char* p, size_t n) {
  uint32_t c = 0xFFFFFFFFu;
  for (size_t i = 0; i < n; ++i) {
    c ^= p[i];
    for (int k = 0; k < 8; ++k) c = (c & 1u) ? 0x82F63B78u ^ (c >> 1) : c >> 1;
  }
  return c ^ 0xFFFFFFFFu;
}

TEST(Crc32c, StandardCheckValueAndContinuation) {
  EXPECT_EQ(crc32c("123456789", 9), 0xE3069283u);  // CRC-32C/ISCSI check value
  EXPECT_EQ(crc32c("", 0), 0u);
  EXPECT_EQ(crc32c("6789", 4, crc32c("12345", 5)), 0xE3069283u);
}

TEST(Crc32c, AgreesWithTheBitwiseDefinitionAtEveryLengthAndOffset) {
  std::mt19937 rng(5);
  std::string bytes(100000 + 16, '\0');
  for (char& b : bytes) b = static_cast<char>(rng());
  const auto* p = reinterpret_cast<const unsigned char*>(bytes.data());
  for (size_t offset = 0; offset < 8; ++offset) {
    // Short runs take one stream; from 12 KiB on, three interleaved streams are joined.
    for (size_t n : {0u, 1u, 7u, 8u, 9u, 15u, 16u, 17u, 63u, 64u, 1000u, 4096u, 12287u, 12288u,
                     12289u, 24583u, 99991u, 100000u}) {
      EXPECT_EQ(crc32c(p + offset, n), crc32c_by_bits(p + offset, n)) << offset << " " << n;
    }
  }
  // Continuing across the streams' boundaries equals one pass.
  EXPECT_EQ(crc32c(p + 50000, 50000, crc32c(p, 50000)), crc32c(p, 100000));
  // One flipped bit anywhere changes it.
  const uint32_t whole = crc32c(p, 40000);
  for (size_t bit = 0; bit < 40000 * 8; bit += 9973) {
    std::string changed = bytes.substr(0, 40000);
    changed[bit / 8] = static_cast<char>(changed[bit / 8] ^ (1 << (bit % 8)));
    EXPECT_NE(crc32c(changed.data(), changed.size()), whole) << bit;
  }
}

}  // namespace
}  // namespace asl
