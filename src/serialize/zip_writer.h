// Builds, in memory, the zip container torch.save writes: stored (uncompressed) records
// under one top folder, each record's data aligned to 64 bytes as PyTorch aligns it.
// Archives are limited to 4 GB (no zip64), far above one clip's feature file.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace asl::serialize {

class ZipWriter {
 public:
  // `folder` is the archive's top folder ("archive" in torch.save files).
  explicit ZipWriter(std::string folder) : folder_(std::move(folder)) {}

  // Appends the record `folder/name`. Throws asl::Error when the archive would pass 4 GB.
  void add(const std::string& name, const void* data, size_t size);
  void add(const std::string& name, const std::string& data) { add(name, data.data(), data.size()); }

  // The central directory and end record appended: the whole file. Call once.
  std::string finish();

 private:
  struct Record {
    std::string name;
    uint32_t crc = 0;
    uint32_t size = 0;
    uint32_t offset = 0;
  };
  std::string folder_;
  std::string bytes_;
  std::vector<Record> records_;
};

}  // namespace asl::serialize
