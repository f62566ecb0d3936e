// Helpers shared by the network tests: configs, cached models, small tensors.
#pragma once

#include <torch/torch.h>

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "core/config.h"
#include "model/asl_model.h"

namespace asl::model::testing {

inline std::string config_path(const std::string& name) {
  return std::string(ASL_SOURCE_DIR) + "/configs/" + name;
}

inline config::Config load(const std::string& name, const std::vector<std::string>& overrides = {}) {
  return config::load_config(config_path(name), overrides);
}

// Models of the committed configs are big (the baseline has 222M values): each is built
// once per test binary, with a fixed seed.
inline PtTransformer cached_model(const std::string& name) {
  static std::map<std::string, PtTransformer> models;
  auto it = models.find(name);
  if (it == models.end()) {
    torch::manual_seed(0);
    it = models.emplace(name, PtTransformer(load(name))).first;
  }
  return it->second;
}

// Moves a module to double and gives every parameter random values (LayerNorm weights
// around 1), so that zero biases or unit scales hide nothing.
inline void randomize(torch::nn::Module& m, uint64_t seed) {
  m.to(torch::kDouble);
  torch::manual_seed(seed);
  torch::NoGradGuard no_grad;
  for (auto& p : m.named_parameters()) {
    p.value().uniform_(-0.5, 0.5);
    const std::string& name = p.key();
    const bool ln_weight = name.size() >= 6 && name.compare(name.size() - 6, 6, "weight") == 0 &&
                           (name.find("norm") != std::string::npos || name.find("ln") == 0);
    if (ln_weight) p.value().add_(1.0);
  }
}

// A mask [B,1,T] with the given valid lengths.
inline at::Tensor length_mask(const std::vector<int64_t>& lengths, int64_t T) {
  const auto B = static_cast<int64_t>(lengths.size());
  at::Tensor lens = torch::tensor(lengths, torch::kLong).view({B, 1, 1});
  return torch::arange(T, torch::kLong).view({1, 1, T}) < lens;
}

// Largest absolute difference of two tensors of equal shape.
inline double max_abs_diff(const at::Tensor& a, const at::Tensor& b) {
  return (a.to(torch::kDouble) - b.to(torch::kDouble)).abs().max().item<double>();
}

}  // namespace asl::model::testing
