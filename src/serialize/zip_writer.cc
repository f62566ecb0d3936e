#include "serialize/zip_writer.h"

#include <limits>

#include "core/error.h"
#include "serialize/crc32.h"

namespace asl::serialize {
namespace {

constexpr size_t kAlignment = 64;
constexpr uint64_t kMax = std::numeric_limits<uint32_t>::max();

void put(std::string& out, uint64_t value, int width) {
  for (int i = 0; i < width; ++i) out.push_back(static_cast<char>((value >> (8 * i)) & 0xFFu));
}

}  // namespace

void ZipWriter::add(const std::string& name, const void* data, size_t size) {
  Record r;
  r.name = folder_ + "/" + name;
  r.crc = crc32(data, size);
  if (size > kMax || bytes_.size() + size + r.name.size() + 30 + kAlignment + 4 > kMax) {
    throw Error(r.name, "the archive would exceed 4 GB", "write smaller files");
  }
  r.size = static_cast<uint32_t>(size);
  r.offset = static_cast<uint32_t>(bytes_.size());
  // The extra field pads the data to the next multiple of kAlignment (id "FB", as PyTorch).
  const size_t header_end = bytes_.size() + 30 + r.name.size() + 4;
  const size_t padding = (kAlignment - header_end % kAlignment) % kAlignment;
  put(bytes_, 0x04034b50u, 4);  // local file header
  put(bytes_, 20, 2);           // version needed
  put(bytes_, 0, 2);            // flags
  put(bytes_, 0, 2);            // method: stored
  put(bytes_, 0, 4);            // time, date
  put(bytes_, r.crc, 4);
  put(bytes_, r.size, 4);  // compressed
  put(bytes_, r.size, 4);  // uncompressed
  put(bytes_, r.name.size(), 2);
  put(bytes_, 4 + padding, 2);
  bytes_ += r.name;
  put(bytes_, 0x4246, 2);  // "FB"
  put(bytes_, padding, 2);
  bytes_.append(padding, 'Z');
  bytes_.append(static_cast<const char*>(data), size);
  records_.push_back(std::move(r));
}

std::string ZipWriter::finish() {
  const uint64_t dir_at = bytes_.size();
  for (const Record& r : records_) {
    put(bytes_, 0x02014b50u, 4);  // central directory header
    put(bytes_, 20, 2);           // version made by
    put(bytes_, 20, 2);           // version needed
    put(bytes_, 0, 2);            // flags
    put(bytes_, 0, 2);            // method
    put(bytes_, 0, 4);            // time, date
    put(bytes_, r.crc, 4);
    put(bytes_, r.size, 4);
    put(bytes_, r.size, 4);
    put(bytes_, r.name.size(), 2);
    put(bytes_, 0, 2);  // extra
    put(bytes_, 0, 2);  // comment
    put(bytes_, 0, 2);  // disk
    put(bytes_, 0, 2);  // internal attributes
    put(bytes_, 0, 4);  // external attributes
    put(bytes_, r.offset, 4);
    bytes_ += r.name;
  }
  const uint64_t dir_size = bytes_.size() - dir_at;
  if (bytes_.size() + 22 > kMax) throw Error(folder_, "the archive would exceed 4 GB", "write smaller files");
  put(bytes_, 0x06054b50u, 4);  // end of central directory
  put(bytes_, 0, 2);
  put(bytes_, 0, 2);
  put(bytes_, records_.size(), 2);
  put(bytes_, records_.size(), 2);
  put(bytes_, dir_size, 4);
  put(bytes_, dir_at, 4);
  put(bytes_, 0, 2);  // comment
  return std::move(bytes_);
}

}  // namespace asl::serialize
