#include "model/state_dict.h"

#include <torch/torch.h>

#include <set>
#include <unordered_map>

#include "core/error.h"
#include "core/strings.h"
#include "core/progress.h"
#include "model/import.h"

namespace asl::model {
namespace {

constexpr size_t kMaxListed = 4;  // problems of one kind named in an error message

std::string shape_text(c10::IntArrayRef s) { return asl::shape_text(s.vec()); }

std::string strip_module(const std::string& key) {
  static const std::string prefix = "module.";
  return key.compare(0, prefix.size(), prefix) == 0 ? key.substr(prefix.size()) : key;
}

// Joins the problems of each kind into one message: the first kMaxListed of a kind, then
// how many more of that kind there are.
std::string join_problems(const std::vector<std::pair<std::vector<std::string>, std::string>>& kinds) {
  std::string m;
  for (const auto& [problems, plural] : kinds) {
    for (size_t i = 0; i < problems.size() && i < kMaxListed; ++i) m += (m.empty() ? "" : "; ") + problems[i];
    if (problems.size() > kMaxListed) {
      m += "; and " + std::to_string(problems.size() - kMaxListed) + " more " + plural;
    }
  }
  return m;
}

bool is_floating(serialize::ElementType t) {
  using serialize::ElementType;
  return t == ElementType::kFloat || t == ElementType::kDouble || t == ElementType::kHalf ||
         t == ElementType::kBFloat16;
}

c10::ScalarType scalar_type(serialize::ElementType t) {
  using serialize::ElementType;
  switch (t) {
    case ElementType::kFloat: return c10::ScalarType::Float;
    case ElementType::kDouble: return c10::ScalarType::Double;
    case ElementType::kHalf: return c10::ScalarType::Half;
    case ElementType::kBFloat16: return c10::ScalarType::BFloat16;
    case ElementType::kLong: return c10::ScalarType::Long;
    case ElementType::kInt: return c10::ScalarType::Int;
    case ElementType::kShort: return c10::ScalarType::Short;
    case ElementType::kChar: return c10::ScalarType::Char;
    case ElementType::kByte: return c10::ScalarType::Byte;
    case ElementType::kBool: return c10::ScalarType::Bool;
    case ElementType::kComplexFloat: return c10::ScalarType::ComplexFloat;
    case ElementType::kComplexDouble: return c10::ScalarType::ComplexDouble;
  }
  return c10::ScalarType::Byte;
}

}  // namespace

at::Tensor load_tensor(const TorchFile& file, const TensorRef& ref, const std::string& what) {
  at::Tensor t = at::empty(ref.sizes, at::TensorOptions().dtype(scalar_type(ref.type)));
  file.read_contiguous(ref, what, t.data_ptr());
  return t;
}

NamedTensorRefs tensor_entries(const TorchFile& file, const PyValue& dict, const std::string& where) {
  if (dict.kind != PyValue::Kind::kDict) {
    throw Error(file.path(), where + " is " + dict.describe() + ", not a dict of tensors",
                "pass a checkpoint saved by the reference's train.py");
  }
  NamedTensorRefs out;
  out.reserve(dict.entries.size());
  for (const auto& [k, v] : dict.entries) {
    if (k->kind != PyValue::Kind::kString) {
      throw Error(file.path(), where + " has a key that is " + k->describe() + ", not a name",
                  "pass a state dict ({name: tensor})");
    }
    if (v->kind != PyValue::Kind::kTensor) {
      throw Error(file.path(), where + "." + k->text + " is " + v->describe() + ", not a tensor",
                  "pass a state dict ({name: tensor})");
    }
    out.emplace_back(k->text, v->tensor.get());
  }
  return out;
}

NamedTensors read_tensor_dict(const std::string& path) {
  const TorchFile file(path);
  NamedTensors out;
  for (const auto& [name, ref] : tensor_entries(file, file.root(), "the file's dict")) {
    out.emplace_back(name, load_tensor(file, *ref, name));
  }
  return out;
}

MappedWeights map_reference_weights(const TorchFile& file, const PyValue& dict,
                                    const std::string& section, const torch::nn::Module& model,
                                    bool use_xl) {
  const NamedTensorRefs entries = tensor_entries(file, dict, section);
  std::unordered_map<std::string, const TensorRef*> by_name;
  std::vector<std::string> missing, mismatched, unexpected;  // reported in this order
  MappedWeights mapped;

  std::set<std::string> params;
  for (const auto& p : model.named_parameters()) params.insert(p.key());

  for (const auto& [key, ref] : entries) {
    const std::string name = strip_module(key);
    if (!by_name.emplace(name, ref).second) {
      unexpected.push_back("key " + name + " appears twice (with and without `module.`)");
      continue;
    }
    if (params.count(name)) continue;
    if (!dead_key_group(name, use_xl).empty()) {
      mapped.dead.push_back(name);
      mapped.dead_values += ref->numel();
    } else {
      unexpected.push_back("unexpected key " + name +
                           " (neither a parameter of this model nor a known dead part)");
    }
  }
  for (const auto& p : model.named_parameters()) {
    const auto it = by_name.find(p.key());
    if (it == by_name.end()) {
      missing.push_back("missing live key " + p.key());
      continue;
    }
    const TensorRef& ref = *it->second;
    if (ref.sizes != p.value().sizes().vec()) {
      mismatched.push_back("key " + p.key() + " has shape " + shape_text(ref.sizes) +
                           ", the model expects " + shape_text(p.value().sizes()));
    } else if (!is_floating(ref.type)) {
      mismatched.push_back("key " + p.key() + " holds " + std::string(c10::toString(scalar_type(ref.type))) +
                           " values, not floating point");
    }
  }
  if (!missing.empty() || !mismatched.empty() || !unexpected.empty()) {
    throw Error(file.path(), section + " does not fit the model of this config: " +
                                 join_problems({{missing, "missing live keys"},
                                                {mismatched, "mis-shaped or mis-typed keys"},
                                                {unexpected, "unexpected keys"}}),
                "use the config the checkpoint was trained with (--config)");
  }

  Progress progress("import " + section, static_cast<int64_t>(params.size()), "tensors");
  for (const auto& p : model.named_parameters()) {
    progress.advance();
    at::Tensor t = load_tensor(file, *by_name.at(p.key()), section + "." + p.key());
    t = t.to(p.value().scalar_type());
    if (!t.isfinite().all().item<bool>()) {
      throw Error(file.path(), section + "." + p.key() + " holds NaN or Inf values",
                  "import a checkpoint from before training diverged");
    }
    mapped.live.emplace_back(p.key(), t);
  }
  progress.finish();
  return mapped;
}

void assign_weights(torch::nn::Module& model, const NamedTensors& weights) {
  std::unordered_map<std::string, const at::Tensor*> given;
  for (const auto& [name, t] : weights) given.emplace(name, &t);
  torch::NoGradGuard no_grad;
  for (auto& p : model.named_parameters()) {
    const auto it = given.find(p.key());
    if (it == given.end()) throw Error(p.key(), "no weights given for this parameter");
    if (it->second->sizes() != p.value().sizes()) {
      throw Error(p.key(), "weights of shape " + shape_text(it->second->sizes()) +
                               ", the parameter has " + shape_text(p.value().sizes()));
    }
    p.value().copy_(*it->second);
  }
  if (given.size() != model.named_parameters().size()) {
    for (const auto& [name, t] : weights) {
      if (!model.named_parameters().contains(name)) {
        throw Error(name, "weights given for a name that is not a parameter of the model");
      }
    }
  }
}


}  // namespace asl::model
