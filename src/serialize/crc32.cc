#include "serialize/crc32.h"

#include <zlib.h>

#include <algorithm>
#include <climits>

namespace asl::serialize {

// zlib's CRC-32 (the same polynomial as zip) runs several bytes per cycle; a whole
// checkpoint is checked on every load.
uint32_t crc32(const void* data, size_t size, uint32_t crc) {
  const auto* p = static_cast<const Bytef*>(data);
  uLong c = crc;
  while (size > 0) {
    const size_t n = std::min<size_t>(size, UINT_MAX);
    c = ::crc32(c, p, static_cast<uInt>(n));
    p += n;
    size -= n;
  }
  return static_cast<uint32_t>(c);
}

}  // namespace asl::serialize
