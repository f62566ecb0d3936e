// Small helpers over the HDF5 C API for the feature store: one process-wide lock (the serial
// library is not thread-safe), handles that close themselves, errors turned into asl::Error
// text, string/integer attributes in the layout h5py reads, and the IEEE half type that h5py
// uses for numpy.float16. Private to the store (store_*.cc, pack.cc, load_bench.cc).
#pragma once

#include <hdf5.h>

#include <cstdint>
#include <mutex>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

namespace asl::data::h5 {

// Held around every HDF5 call (recursive: a scope holding it may close handles, which
// take it too). Also silences HDF5's own error printing for the calling thread (a
// thread-safe HDF5 build keeps one error stack per thread).
class Lock {
 public:
  Lock();
  Lock(const Lock&) = delete;
  Lock& operator=(const Lock&) = delete;

 private:
  std::lock_guard<std::recursive_mutex> guard_;
};

// An HDF5 identifier closed by `close` on destruction, under Lock: a handle may outlive
// the scope that opened it (e.g. while a buffer is allocated without the lock).
class Handle {
 public:
  using Closer = herr_t (*)(hid_t);
  Handle() = default;
  Handle(hid_t id, Closer close) : id_(id), close_(close) {}
  ~Handle() { reset(); }
  Handle(Handle&& other) noexcept : id_(std::exchange(other.id_, -1)), close_(other.close_) {}
  Handle& operator=(Handle&& other) noexcept {
    if (this != &other) {
      reset();
      id_ = std::exchange(other.id_, -1);
      close_ = other.close_;
    }
    return *this;
  }
  Handle(const Handle&) = delete;
  Handle& operator=(const Handle&) = delete;

  hid_t get() const { return id_; }
  bool valid() const { return id_ >= 0; }
  // Closes now; returns false when HDF5 reports a failure (e.g. flushing a file).
  bool reset() {
    bool ok = true;
    if (id_ >= 0 && close_) {
      Lock lock;
      ok = close_(id_) >= 0;
    }
    id_ = -1;
    return ok;
  }

 private:
  hid_t id_ = -1;
  Closer close_ = nullptr;
};

// The most specific message on this thread's HDF5 error stack (then cleared), e.g.
// "truncated file: eof = 4096, ..."; empty when there is none.
std::string last_error();

// IEEE 754 binary16 in the given byte order, as h5py builds it for numpy.float16.
Handle half_type(H5T_order_t order);

// Root/object attributes. Strings are variable-length UTF-8 (h5py returns them as str);
// the readers also accept fixed-length strings. Readers return false when absent.
void write_string_attr(hid_t obj, const char* name, const std::string& value);
void write_strings_attr(hid_t obj, const char* name, const std::vector<std::string>& values);
void write_int_attr(hid_t obj, const char* name, int64_t value);
void write_ints_attr(hid_t obj, const char* name, const std::vector<int64_t>& values);
bool read_string_attr(hid_t obj, const char* name, std::string& value);
bool read_strings_attr(hid_t obj, const char* name, std::vector<std::string>& values);
bool read_int_attr(hid_t obj, const char* name, int64_t& value);
bool read_ints_attr(hid_t obj, const char* name, std::vector<int64_t>& values);

// One-dimensional datasets of strings / integers (the shard index's clip table).
void write_strings_dataset(hid_t loc, const char* name, const std::vector<std::string>& values);
void write_ints_dataset(hid_t loc, const char* name, const std::vector<int64_t>& values);
bool read_strings_dataset(hid_t loc, const char* name, std::vector<std::string>& values);
bool read_ints_dataset(hid_t loc, const char* name, std::vector<int64_t>& values);

// Thrown by the helpers above; the store turns it into an asl::Error naming file and clip.
class Failure : public std::runtime_error {
 public:
  explicit Failure(const std::string& what) : std::runtime_error(what) {}
};

}  // namespace asl::data::h5
