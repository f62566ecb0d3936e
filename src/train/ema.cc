#include "train/ema.h"

#include <torch/torch.h>

#include "core/error.h"
#include "model/kernel_hooks.h"

namespace asl::train {
namespace {

// Parameters then buffers, in registration order (a state_dict's order).
std::vector<std::pair<std::string, at::Tensor>> state(const torch::nn::Module& model) {
  std::vector<std::pair<std::string, at::Tensor>> out;
  for (const auto& p : model.named_parameters()) out.emplace_back(p.key(), p.value());
  for (const auto& b : model.named_buffers()) out.emplace_back(b.key(), b.value());
  return out;
}

}  // namespace

ModelEma::ModelEma(const torch::nn::Module& model, double decay) : decay_(decay) {
  torch::NoGradGuard no_grad;
  for (const auto& [name, t] : state(model)) values_.emplace_back(name, t.detach().clone());
}

void ModelEma::update(const torch::nn::Module& model) {
  torch::NoGradGuard no_grad;
  const auto current = state(model);
  if (current.size() != values_.size()) {
    throw Error("model EMA", "the model has " + std::to_string(current.size()) +
                                 " tensors, the EMA " + std::to_string(values_.size()));
  }
  // CUDA float32 tensors go to the multi-tensor kernel when one is installed; the rest
  // (and every CPU tensor) take the reference's ops.
  const auto& fused = model::kernel_hooks().ema_update;
  std::vector<at::Tensor> fused_averages, fused_values;
  for (size_t i = 0; i < current.size(); ++i) {
    at::Tensor& e = values_[i].second;
    const at::Tensor& m = current[i].second;
    if (fused && e.is_cuda() && e.scalar_type() == at::kFloat && m.scalar_type() == at::kFloat &&
        e.is_contiguous() && m.is_contiguous()) {
      fused_averages.push_back(e);
      fused_values.push_back(m);
      continue;
    }
    // reference: ema_v.copy_(decay * e + (1. - decay) * m)
    e.copy_(decay_ * e + (1.0 - decay_) * m);
  }
  if (!fused_averages.empty()) fused(fused_averages, fused_values, decay_);
}

void ModelEma::copy_to(torch::nn::Module& model) const {
  torch::NoGradGuard no_grad;
  const auto target = state(model);
  if (target.size() != values_.size()) {
    throw Error("model EMA", "architecture mismatch: " + std::to_string(target.size()) +
                                 " tensors vs " + std::to_string(values_.size()));
  }
  for (size_t i = 0; i < target.size(); ++i) target[i].second.copy_(values_[i].second);
}

void ModelEma::load(const std::vector<std::pair<std::string, at::Tensor>>& values) {
  if (values.size() != values_.size()) {
    throw Error("model EMA", "checkpoint holds " + std::to_string(values.size()) +
                                 " averages for " + std::to_string(values_.size()) + " tensors");
  }
  torch::NoGradGuard no_grad;
  for (size_t i = 0; i < values.size(); ++i) {
    if (values[i].first != values_[i].first || !values[i].second.sizes().equals(values_[i].second.sizes())) {
      throw Error("model EMA", "checkpoint tensor " + values[i].first + " does not match " +
                                   values_[i].first);
    }
    values_[i].second.copy_(values[i].second);
  }
}

}  // namespace asl::train
