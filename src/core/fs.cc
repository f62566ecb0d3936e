#include "core/fs.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "core/error.h"
#include "core/failpoint.h"

namespace asl {
namespace {

std::string errno_text() { return std::strerror(errno); }

std::string unique_temp_name(const std::string& target) {
  static std::atomic<unsigned> counter{0};
  const std::filesystem::path p(target);
  const std::string name = "." + p.filename().string() + ".tmp." + std::to_string(getpid()) +
                           "." + std::to_string(counter++);
  return (p.parent_path() / name).string();
}

}  // namespace

AtomicFile::AtomicFile(std::string target)
    : target_(std::move(target)), temp_(unique_temp_name(target_)) {
  const auto parent = std::filesystem::path(target_).parent_path();
  if (!parent.empty() && !std::filesystem::is_directory(parent)) {
    throw Error(target_, "the folder " + parent.string() + " does not exist",
                "create it or choose another output path");
  }
}

AtomicFile::~AtomicFile() {
  if (!committed_) std::remove(temp_.c_str());
}

void AtomicFile::commit() {
  sync_file(temp_);
  if (std::rename(temp_.c_str(), target_.c_str()) != 0) {
    throw Error(target_, "cannot move the finished file into place: " + errno_text());
  }
  committed_ = true;
}

void write_file_atomic(const std::string& path, const std::string& bytes) {
  AtomicFile file(path);
  {
    std::ofstream out(file.temp_path(), std::ios::binary | std::ios::trunc);
    if (!out) throw Error(path, "cannot write: " + errno_text(), "check the folder's permissions");
    if (!bytes.empty() && failpoint_no_space(path)) {  // a disk that fills half-way through
      out.write(bytes.data(), static_cast<std::streamsize>(bytes.size() / 2));
      errno = ENOSPC;
      throw Error(path, "write failed: " + errno_text(), "check the free disk space");
    }
    out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    out.flush();
    if (!out) throw Error(path, "write failed: " + errno_text(), "check the free disk space");
  }
  file.commit();
}

AppendFile::AppendFile(std::string path) : path_(std::move(path)) {
  fd_ = ::open(path_.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
  if (fd_ < 0) throw Error(path_, "cannot open for appending: " + errno_text(), "check the folder's permissions");
}

AppendFile::~AppendFile() {
  if (fd_ >= 0) ::close(fd_);
}

void AppendFile::append(const std::string& bytes) {
  const off_t before = ::lseek(fd_, 0, SEEK_END);
  size_t done = 0;
  int error = 0;
  if (failpoint_no_space(path_)) {
    done = static_cast<size_t>(std::max<ssize_t>(0, ::write(fd_, bytes.data(), bytes.size() / 2)));
    error = ENOSPC;
  }
  while (error == 0 && done < bytes.size()) {
    const ssize_t n = ::write(fd_, bytes.data() + done, bytes.size() - done);
    if (n > 0) {
      done += static_cast<size_t>(n);
    } else if (n < 0 && errno != EINTR) {
      error = errno;
    } else if (n == 0) {
      error = ENOSPC;
    }
  }
  if (error == 0) return;
  // Cut the torn record off again; should that fail too, readers skip a torn last line.
  if (before >= 0 && done > 0) (void)!::ftruncate(fd_, before);
  throw Error(path_, std::string("cannot append: ") + std::strerror(error));
}

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error(path, "cannot open: " + errno_text(), "check the path");
  std::ostringstream s;
  s << in.rdbuf();
  if (in.bad()) throw Error(path, "read failed: " + errno_text());
  return s.str();
}

void make_dirs(const std::string& path) {
  std::error_code ec;
  std::filesystem::create_directories(path, ec);
  if (ec) throw Error(path, "cannot create the folder: " + ec.message());
}

bool path_exists(const std::string& path) {
  std::error_code ec;
  return std::filesystem::exists(path, ec);
}

void sync_file(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY);
  if (fd < 0) throw Error(path, "cannot open to flush: " + errno_text());
  const int rc = ::fsync(fd);
  ::close(fd);
  if (rc != 0) throw Error(path, "cannot flush to disk: " + errno_text());
}

std::string join_path(const std::string& dir, const std::string& name) {
  if (dir.empty()) return name;
  return dir.back() == '/' ? dir + name : dir + "/" + name;
}

std::string last_path_component(const std::string& path) {
  std::string p = path;
  while (p.size() > 1 && p.back() == '/') p.pop_back();
  return p.substr(p.find_last_of('/') + 1);
}

}  // namespace asl
