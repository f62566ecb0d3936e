// File helpers that keep outputs whole: a file is written under a temporary name in the
// same folder, flushed to disk, then renamed over the target; an error or a kill leaves
// the target untouched (old content or absent).
#pragma once

#include <cstdio>
#include <string>

namespace asl {

// A temporary file next to `target`, renamed onto it by commit(). Destroyed without
// commit() (an exception, an early return), it removes the temporary file.
class AtomicFile {
 public:
  explicit AtomicFile(std::string target);
  ~AtomicFile();
  AtomicFile(const AtomicFile&) = delete;
  AtomicFile& operator=(const AtomicFile&) = delete;

  // Where to write (for libraries that open files by name, such as HDF5).
  const std::string& temp_path() const { return temp_; }
  const std::string& target() const { return target_; }

  // Flushes the temporary file to disk and renames it onto the target.
  void commit();

 private:
  std::string target_;
  std::string temp_;
  bool committed_ = false;
};

// A log that grows by whole records (steps.jsonl, validation.jsonl). Each append is checked:
// a full disk is reported at the record that failed, and a record written in part is cut
// off again, so the file always ends with a whole line.
class AppendFile {
 public:
  // Opens `path` for appending, creating it; throws asl::Error naming it.
  explicit AppendFile(std::string path);
  ~AppendFile();
  AppendFile(const AppendFile&) = delete;
  AppendFile& operator=(const AppendFile&) = delete;

  // Throws asl::Error naming the file and the system's reason (e.g. "No space left on device").
  void append(const std::string& bytes);
  const std::string& path() const { return path_; }

 private:
  std::string path_;
  int fd_ = -1;
};

// Writes `bytes` to `path` atomically. Throws asl::Error naming the path.
void write_file_atomic(const std::string& path, const std::string& bytes);

// Whole file as bytes. Throws asl::Error naming the path.
std::string read_file(const std::string& path);

// Creates a folder and its parents; throws asl::Error naming it.
void make_dirs(const std::string& path);

bool path_exists(const std::string& path);

// dir + "/" + name (no doubled slash; an empty dir gives name).
std::string join_path(const std::string& dir, const std::string& name);

// The last component of a path, trailing slashes ignored: "runs/demo/train/" -> "train".
std::string last_path_component(const std::string& path);

// Flushes a written file's data to disk (fsync); throws asl::Error naming it.
void sync_file(const std::string& path);

}  // namespace asl
