// Files of torch.save (zip format, PyTorch 1.6 and newer), read and written without
// LibTorch: the feature reader and `asl convert`/`pack` need no tensors, and reading a
// checkpoint of several GB this way costs only the tensors used.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "serialize/pickle.h"
#include "serialize/zip_reader.h"

namespace asl::serialize {

// A torch.save file, opened: its zip directory and its pickle, parsed. Tensor data is read
// on demand. Throws asl::Error naming the path for a file that is missing, truncated, not a
// zip, in the legacy (pre-1.6) format, big-endian, or whose pickle cannot be read.
class TorchFile {
 public:
  explicit TorchFile(const std::string& path);

  const std::string& path() const { return zip_.path(); }
  const PyValue& root() const { return *root_; }

  // Writes the tensor's elements, in row-major (contiguous) order, to `dst`, which holds
  // ref.numel() * element_size(ref.type) bytes. Reads its storage record (checking its size
  // and CRC-32). Throws asl::Error naming `what` when the view's offset, sizes and strides
  // reach past the storage.
  void read_contiguous(const TensorRef& ref, const std::string& what, void* dst) const;

 private:
  ZipReader zip_;
  std::shared_ptr<PyValue> root_;
};

// The bytes torch.save(t, path) writes for a contiguous tensor `t` of `type` and `sizes`
// whose elements are at `data`: LibTorch's torch::pickle_load and Python's torch.load read
// them back.
std::string torch_save_bytes(ElementType type, const std::vector<int64_t>& sizes, const void* data);

}  // namespace asl::serialize
