// The Python values of a torch.save pickle (data.pkl), without LibTorch.
//
// Why not torch::pickle_load: LibTorch's unpickler lacks opcodes Python uses (SETITEM, for
// one-key dicts such as an optimizer's per-parameter state) and turns a state_dict's
// OrderedDict with its `_metadata` into None. This reader runs the part of the pickle
// protocol (0-5) that torch.save and torch::pickle_save emit, and keeps every value it does
// not understand as an opaque object instead of failing. Tensors stay descriptions
// (TensorRef) until their data is read from the zip record (serialize/torch_file.h).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace asl::serialize {

// The element type of a tensor storage (torch.<Type>Storage).
enum class ElementType { kFloat, kDouble, kHalf, kBFloat16, kLong, kInt, kShort, kChar, kByte,
                         kBool, kComplexFloat, kComplexDouble };
// Bytes per element.
int64_t element_size(ElementType type);
// As Python prints it: "torch.float32", "torch.int64", ...
std::string type_name(ElementType type);

// A tensor in the file, before its data is read: a view into a storage record.
struct TensorRef {
  std::string storage;  // record name inside the archive, "data/<key>"
  ElementType type = ElementType::kFloat;
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

// Runs the pickle `data`. Throws asl::Error naming `path` (the file it came from) and the
// byte of an unsupported opcode, a malformed stream or a persistent id that is not a
// tensor storage.
std::shared_ptr<PyValue> unpickle(const std::string& data, const std::string& path);

}  // namespace asl::serialize
