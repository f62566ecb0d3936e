// CRC-32C (Castagnoli, the checksum of iSCSI, ext4 and btrfs): the feature store's checksum of
// each clip's values. With SSE4.2 (every x86-64 CPU since 2008) one instruction does 8 bytes,
// about 8 GB/s on one core, so checking every read costs little next to reading; elsewhere a
// table, about 0.3 GB/s.
#pragma once

#include <cstddef>
#include <cstdint>

namespace asl {

// The CRC-32C of `size` bytes at `data`; `crc` continues an earlier value (0 to start).
uint32_t crc32c(const void* data, size_t size, uint32_t crc = 0);

}  // namespace asl
