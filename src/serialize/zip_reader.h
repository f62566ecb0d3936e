// The zip container of files written by torch.save (PyTorch 1.6 and newer): stored,
// uncompressed records under one top folder, zip64 when large. Only the central directory
// is read up front; a record's bytes are read on demand and checked against its CRC-32
// (LibTorch's own reader does not check them, so a flipped byte would load silently).
#pragma once

#include <cstdint>
#include <fstream>
#include <map>
#include <string>

namespace asl::serialize {

class ZipReader {
 public:
  // Throws asl::Error naming `path` for a file that is missing, empty, truncated, in
  // PyTorch's legacy (pre-1.6, non-zip) format, or not a zip file.
  explicit ZipReader(const std::string& path);

  const std::string& path() const { return path_; }
  // Records are named without the archive's top folder: "data.pkl", "data/0".
  bool has(const std::string& record) const { return entries_.count(record) > 0; }
  // The record's bytes into `dst`, which must be exactly the record's size `n`; checks the
  // CRC-32. Throws asl::Error naming the record otherwise.
  void read(const std::string& record, void* dst, uint64_t n) const;
  std::string read(const std::string& record) const;
  // Reads every record in blocks and checks its CRC-32: a byte changed anywhere in the data is
  // an asl::Error naming the record. (Torch's archive reader does not check them.)
  void verify_checksums() const;

 private:
  struct Entry {
    std::string full_name;  // with the top folder, as in the file
    uint32_t method = 0;
    uint32_t crc = 0;
    uint64_t size = 0;          // uncompressed
    uint64_t local_offset = 0;  // of the local header
  };

  std::string read_bytes(uint64_t at, uint64_t n) const;
  [[noreturn]] void truncated(const std::string& detail) const;
  [[noreturn]] void corrupted(const Entry& e) const;
  uint64_t data_offset(const Entry& e) const;  // where the record's bytes start
  void read_directory();

  std::string path_;
  mutable std::ifstream in_;
  uint64_t file_size_ = 0;
  std::map<std::string, Entry> entries_;
};

}  // namespace asl::serialize
