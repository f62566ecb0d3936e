// State dicts in and out: reading the files Python's torch.save writes (zip format,
// PyTorch >= 1.6) - reference checkpoints ({'epoch', 'state_dict', 'state_dict_ema',
// 'optimizer', 'scheduler'}), bare state dicts, {name: tensor} dicts such as the golden
// parity data -, mapping a reference state dict onto the model by name (the rules are in
// model/import.h), and the weights of this project's native checkpoint.
//
// Why not torch::pickle_load: LibTorch's unpickler lacks opcodes Python uses (SETITEM, for
// one-key dicts such as an optimizer's per-parameter state) and turns a state_dict's
// OrderedDict with its `_metadata` into None. This reader runs the part of the pickle
// protocol that torch.save emits, keeps every value it does not understand as an opaque
// object instead of failing, and reads tensor data only when asked, straight from the
// zip record (CRC-checked), so a checkpoint of several GB costs only the tensors used.
// It also reads what torch::pickle_save writes (its type tags are dropped).
#pragma once

#include <ATen/core/Tensor.h>
#include <torch/serialize/archive.h>
#include <c10/core/ScalarType.h>

#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace torch::nn {
class Module;
}

namespace asl::model {

// A tensor in the file, before its data is read: a view into a storage record.
struct TensorRef {
  std::string storage;  // record name inside the archive, "data/<key>"
  c10::ScalarType dtype = c10::ScalarType::Float;
  int64_t storage_numel = 0;  // elements of the storage
  int64_t offset = 0;         // storage offset, in elements
  std::vector<int64_t> sizes;
  std::vector<int64_t> strides;

  int64_t numel() const;
};

// One value of the pickle. Containers share their elements (the pickle's memo may refer
// to a value twice), hence the shared pointers.
struct PyValue {
  enum class Kind { kNone, kBool, kInt, kFloat, kString, kBytes, kTuple, kList, kDict,
                    kTensor, kStorage, kGlobal, kObject };
  Kind kind = Kind::kNone;
  bool boolean = false;
  int64_t integer = 0;
  double number = 0;
  std::string text;  // string and bytes; global and object: "module.name" of the class
  std::vector<std::shared_ptr<PyValue>> items;  // tuple, list, set; object: its arguments
  std::vector<std::pair<std::shared_ptr<PyValue>, std::shared_ptr<PyValue>>> entries;  // dict
  std::shared_ptr<TensorRef> tensor;  // tensor, storage

  // The entry of a dict with this string key, or null (also when this is not a dict).
  const PyValue* get(const std::string& key) const;
  // "a dict", "an int", "a tensor", "an object of class torch.device", ...
  std::string describe() const;
};

// An ordered list of named tensors (a state dict), in file order.
using NamedTensors = std::vector<std::pair<std::string, at::Tensor>>;
// The same before the data is read: names with their tensor descriptions.
using NamedTensorRefs = std::vector<std::pair<std::string, const TensorRef*>>;

// A torch.save file, opened: its zip directory and its pickle, parsed. Tensor data is read
// on demand. Throws asl::Error naming the path for a file that is missing, truncated, not a
// zip, in the legacy (pre-1.6) format, or whose pickle cannot be read.
class TorchFile {
 public:
  explicit TorchFile(const std::string& path);
  ~TorchFile();
  TorchFile(const TorchFile&) = delete;
  TorchFile& operator=(const TorchFile&) = delete;

  const std::string& path() const { return path_; }
  const PyValue& root() const { return *root_; }

  // Reads the tensor's storage record (checking its size and CRC-32) and returns the
  // tensor, contiguous and owning only its own elements. `what` names it in errors.
  at::Tensor load(const TensorRef& ref, const std::string& what) const;

 private:
  struct Zip;
  std::string path_;
  std::unique_ptr<Zip> zip_;
  std::shared_ptr<PyValue> root_;
};

// The entries of a {name: tensor} dict of `file` (a state dict); `where` names the dict in
// errors ("state_dict"). Throws asl::Error naming the key of an entry that is not a tensor,
// or when `dict` is not a dict.
NamedTensorRefs tensor_entries(const TorchFile& file, const PyValue& dict,
                               const std::string& where);

// A whole file holding one {name: tensor} dict (a bare state dict, the golden data), read.
NamedTensors read_tensor_dict(const std::string& path);

// One reference state dict mapped onto a model.
struct MappedWeights {
  NamedTensors live;              // in the model's parameter order, float32
  std::vector<std::string> dead;  // skipped keys, file order, without `module.`
  int64_t dead_values = 0;
};

// Maps the {name: tensor} dict `dict` of `file` (called `section` in messages, e.g.
// "state_dict") onto the parameters of `model`, reading only the live tensors. Throws
// asl::Error naming the file, the section and every missing, unexpected, mis-shaped or
// non-floating key; or a live tensor holding NaN or Inf.
MappedWeights map_reference_weights(const TorchFile& file, const PyValue& dict,
                                    const std::string& section, const torch::nn::Module& model,
                                    bool use_xl);

// Copies `weights` into the model's parameters by name (no autograd). Every parameter must
// be given, with its shape; throws asl::Error naming the key otherwise.
void assign_weights(torch::nn::Module& model, const NamedTensors& weights);

// Native checkpoint, format version 1: a torch::serialize::OutputArchive (a zip that
// torch::serialize::InputArchive reads back; LibTorch 1.x and 2.x) holding
//   format     string "asl-checkpoint"
//   version    int 1
//   model      archive: every live parameter under its reference name (float32)
//   model_ema  archive with the same keys, only when EMA weights exist
//   epoch      int, the epoch recorded by the reference (-1: unknown)
//   source     string, what the weights came from ("asl import <file name>")
// Later formats (training) add keys; readers ignore keys they do not know.

// The weights a native checkpoint holds.
struct NativeWeights {
  NamedTensors model;
  NamedTensors model_ema;  // empty: no EMA weights
  int64_t epoch = -1;
  std::string source;
};

// Writes a native checkpoint (format above) atomically: on error nothing is left at `path`.
void write_native_weights(const std::string& path, const NativeWeights& weights);

// The pieces shared with the training checkpoint (train/checkpoint.h), which adds its keys
// beside the weights:
// format, version, epoch, source, model and model_ema into `archive`;
void write_weights_to(torch::serialize::OutputArchive& archive, const NativeWeights& weights);
// loads `path` and checks its format and version; throws asl::Error naming the path;
void load_native_archive(const std::string& path, torch::serialize::InputArchive& archive);
// serializes in memory, then writes atomically (LibTorch's zip writer aborts the process
// when the disk fills up mid-file, so it never writes the file itself).
void save_archive_atomic(const std::string& path, torch::serialize::OutputArchive& archive);
// Reads one back. Throws asl::Error naming the path for a missing, unreadable or
// non-native file or an unknown format version.
NativeWeights read_native_weights(const std::string& path);

}  // namespace asl::model
