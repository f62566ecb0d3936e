// A file's bytes, mapped read-only: one system call instead of a copy through a stream.
// Falls back to reading the file when it is not a regular file or cannot be mapped.
#pragma once

#include <cstddef>
#include <string>

namespace asl {

class MappedFile {
 public:
  // Throws asl::Error naming `path` when it cannot be opened.
  explicit MappedFile(const std::string& path);
  ~MappedFile();
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;

  const char* begin() const { return data_ ? data_ : fallback_.data(); }
  const char* end() const { return data_ ? data_ + size_ : fallback_.data() + fallback_.size(); }

 private:
  int fd_ = -1;
  const char* data_ = nullptr;
  size_t size_ = 0;
  std::string fallback_;
};

}  // namespace asl
