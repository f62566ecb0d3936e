#include "serialize/zip_reader.h"

#include <algorithm>

#include "core/error.h"
#include "serialize/crc32.h"

namespace asl::serialize {
namespace {

constexpr const char* kRecreate = "copy the file again or re-create it";

uint64_t le(const unsigned char* p, int n) {
  uint64_t v = 0;
  for (int i = n - 1; i >= 0; --i) v = (v << 8) | p[i];
  return v;
}

const unsigned char* bytes_of(const std::string& s) {
  return reinterpret_cast<const unsigned char*>(s.data());
}

}  // namespace

ZipReader::ZipReader(const std::string& path) : path_(path), in_(path, std::ios::binary) {
  if (!in_) throw Error(path_, "cannot open the file", "check the path and its permissions");
  in_.seekg(0, std::ios::end);
  file_size_ = static_cast<uint64_t>(in_.tellg());
  read_directory();
}

std::string ZipReader::read_bytes(uint64_t at, uint64_t n) const {
  if (at > file_size_ || n > file_size_ - at) truncated("a zip structure lies past its end");
  std::string b(n, '\0');
  in_.clear();
  in_.seekg(static_cast<std::streamoff>(at));
  in_.read(b.data(), static_cast<std::streamsize>(n));
  if (!in_) throw Error(path_, "read error", "check the disk");
  return b;
}

void ZipReader::truncated(const std::string& detail) const {
  throw Error(path_, "is truncated or corrupted (" + detail + ")", kRecreate);
}

void ZipReader::read_directory() {
  if (file_size_ == 0) {
    throw Error(path_, "is empty (truncated?): not a PyTorch file written by torch.save",
                kRecreate);
  }
  const std::string head = read_bytes(0, std::min<uint64_t>(file_size_, 4));
  if (static_cast<unsigned char>(head[0]) == 0x80) {  // a bare pickle: PROTO n
    throw Error(path_, "is in PyTorch's legacy (pre-1.6, non-zip) torch.save format",
                "re-save it in Python: torch.save(torch.load(path), path) with PyTorch 1.6+");
  }
  if (head != std::string("PK\x03\x04", 4)) {
    throw Error(path_, "is not a PyTorch file written by torch.save (no zip header)",
                "check the path; expected a file of torch.save(obj, path)");
  }
  // End of central directory: the last 22 bytes, or up to 64 kB earlier with a comment.
  const uint64_t tail_len = std::min<uint64_t>(file_size_, 22 + 65535);
  const std::string tail = read_bytes(file_size_ - tail_len, tail_len);
  const unsigned char* t = bytes_of(tail);
  int64_t eocd = -1;
  for (int64_t at = static_cast<int64_t>(tail_len) - 22; at >= 0; --at) {
    if (le(t + at, 4) == 0x06054b50u) {
      eocd = at;
      break;
    }
  }
  if (eocd < 0) truncated("no zip central directory at the end");
  uint64_t count = le(t + eocd + 10, 2);
  uint64_t dir_size = le(t + eocd + 12, 4);
  uint64_t dir_at = le(t + eocd + 16, 4);
  if (count == 0xFFFF || dir_size == 0xFFFFFFFFu || dir_at == 0xFFFFFFFFu) {
    // zip64: the locator sits right before the end record.
    const uint64_t eocd_abs = file_size_ - tail_len + static_cast<uint64_t>(eocd);
    if (eocd_abs < 20) truncated("zip64 locator missing");
    const std::string loc = read_bytes(eocd_abs - 20, 20);
    if (le(bytes_of(loc), 4) != 0x07064b50u) truncated("zip64 locator missing");
    const std::string rec = read_bytes(le(bytes_of(loc) + 8, 8), 56);
    const unsigned char* r = bytes_of(rec);
    if (le(r, 4) != 0x06064b50u) truncated("zip64 end record missing");
    count = le(r + 32, 8);
    dir_size = le(r + 40, 8);
    dir_at = le(r + 48, 8);
  }
  const std::string dir = read_bytes(dir_at, dir_size);
  const unsigned char* d = bytes_of(dir);
  uint64_t at = 0;
  for (uint64_t i = 0; i < count; ++i) {
    if (at + 46 > dir.size() || le(d + at, 4) != 0x02014b50u) truncated("bad central directory");
    Entry e;
    e.method = static_cast<uint32_t>(le(d + at + 10, 2));
    e.crc = static_cast<uint32_t>(le(d + at + 16, 4));
    uint64_t compressed = le(d + at + 20, 4);
    e.size = le(d + at + 24, 4);
    const uint64_t name_len = le(d + at + 28, 2);
    const uint64_t extra_len = le(d + at + 30, 2);
    const uint64_t comment_len = le(d + at + 32, 2);
    e.local_offset = le(d + at + 42, 4);
    if (at + 46 + name_len + extra_len > dir.size()) truncated("bad central directory");
    e.full_name.assign(dir.data() + at + 46, name_len);
    // zip64 extra field: the 64-bit values of the fields set to 0xFFFFFFFF, in order.
    for (uint64_t x = at + 46 + name_len; x + 4 <= at + 46 + name_len + extra_len;) {
      const uint64_t id = le(d + x, 2), len = le(d + x + 2, 2);
      if (id == 0x0001) {
        uint64_t f = x + 4;
        const uint64_t end = x + 4 + len;
        for (uint64_t* field : {&e.size, &compressed, &e.local_offset}) {
          if (*field == 0xFFFFFFFFu && f + 8 <= end) {
            *field = le(d + f, 8);
            f += 8;
          }
        }
      }
      x += 4 + len;
    }
    at += 46 + name_len + extra_len + comment_len;
    const size_t slash = e.full_name.find('/');
    const std::string key = slash == std::string::npos ? e.full_name : e.full_name.substr(slash + 1);
    entries_[key] = e;
  }
}

void ZipReader::read(const std::string& record, void* dst, uint64_t n) const {
  const auto it = entries_.find(record);
  if (it == entries_.end()) {
    throw Error(path_, "has no zip record " + record + " (a tensor's data is missing)", kRecreate);
  }
  const Entry& e = it->second;
  if (e.method != 0) {
    throw Error(path_, "zip record " + e.full_name + " is compressed; torch.save never compresses",
                "re-save it in Python with torch.save(obj, path)");
  }
  if (e.size != n) {
    throw Error(path_, "zip record " + e.full_name + " holds " + std::to_string(e.size) +
                           " bytes where its tensor needs " + std::to_string(n),
                kRecreate);
  }
  const uint64_t data_at = data_offset(e);
  in_.clear();
  in_.seekg(static_cast<std::streamoff>(data_at));
  in_.read(static_cast<char*>(dst), static_cast<std::streamsize>(n));
  if (!in_) throw Error(path_, "read error in record " + e.full_name, "check the disk");
  if (e.crc != 0 && crc32(dst, n) != e.crc) corrupted(e);
}

uint64_t ZipReader::data_offset(const Entry& e) const {
  const std::string local = read_bytes(e.local_offset, 30);
  const unsigned char* l = bytes_of(local);
  if (le(l, 4) != 0x04034b50u) truncated("bad local header of " + e.full_name);
  const uint64_t data_at = e.local_offset + 30 + le(l + 26, 2) + le(l + 28, 2);
  if (data_at > file_size_ || e.size > file_size_ - data_at) {
    truncated("record " + e.full_name + " cut off");
  }
  return data_at;
}

void ZipReader::corrupted(const Entry& e) const {
  throw Error(path_,
              "is corrupted: the data of its zip record " + e.full_name +
                  " does not match its CRC-32 checksum",
              kRecreate);
}

void ZipReader::verify_checksums() const {
  std::string block(std::size_t{4} << 20, '\0');
  for (const auto& [name, e] : entries_) {
    if (e.method != 0) continue;  // never in torch files; read() refuses it when used
    in_.clear();
    in_.seekg(static_cast<std::streamoff>(data_offset(e)));
    uint32_t crc = 0;
    for (uint64_t left = e.size; left > 0;) {
      const uint64_t n = std::min<uint64_t>(left, block.size());
      in_.read(block.data(), static_cast<std::streamsize>(n));
      if (!in_) throw Error(path_, "read error in record " + e.full_name, "check the disk");
      crc = crc32(block.data(), n, crc);
      left -= n;
    }
    if (e.crc != 0 && crc != e.crc) corrupted(e);
  }
}

std::string ZipReader::read(const std::string& record) const {
  const auto it = entries_.find(record);
  // The directory's size is checked against the file before anything is allocated: a
  // damaged or hostile directory may declare gigabytes (found by the checkpoint fuzz target).
  if (it != entries_.end() && it->second.size > file_size_) {
    truncated("record " + it->second.full_name + " cut off");
  }
  std::string b(it == entries_.end() ? 0 : it->second.size, '\0');
  read(record, b.data(), b.size());
  return b;
}

}  // namespace asl::serialize
