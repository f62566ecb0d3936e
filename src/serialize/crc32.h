// CRC-32 (IEEE 802.3, the checksum of zip records).
#pragma once

#include <cstddef>
#include <cstdint>

namespace asl::serialize {

// The CRC-32 of `size` bytes at `data`; `crc` continues an earlier value (0 to start).
uint32_t crc32(const void* data, size_t size, uint32_t crc = 0);

}  // namespace asl::serialize
