// State dicts in: the tensors of torch.save files (read by serialize/torch_file.h without
// LibTorch) as LibTorch tensors - reference checkpoints ({'epoch', 'state_dict',
// 'state_dict_ema', 'optimizer', 'scheduler'}), bare state dicts, {name: tensor} dicts
// such as the golden parity data -, and a reference state dict mapped onto the model by
// name (the rules are in model/import.h). A checkpoint of several GB costs only the
// tensors used.
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "serialize/torch_file.h"

namespace torch::nn {
class Module;
}

namespace asl::model {

using serialize::PyValue;
using serialize::TensorRef;
using serialize::TorchFile;

// An ordered list of named tensors (a state dict), in file order.
using NamedTensors = std::vector<std::pair<std::string, at::Tensor>>;
// The same before the data is read: names with their tensor descriptions.
using NamedTensorRefs = std::vector<std::pair<std::string, const TensorRef*>>;

// Reads one tensor of `file`: contiguous, owning only its own elements, of the file's
// element type. `what` names it in errors.
at::Tensor load_tensor(const TorchFile& file, const TensorRef& ref, const std::string& what);

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

}  // namespace asl::model
