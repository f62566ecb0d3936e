#include "train/optimizer.h"

#include <torch/torch.h>

#include "core/error.h"
#include "core/strings.h"
#include "model/layers.h"

namespace asl::train {
namespace {

bool no_decay(const std::string& full_name, const std::string& own_name,
              const torch::nn::Module& owner) {
  if (ends_with(own_name, "bias")) return true;
  // The reference tests 'xlnet' in the name relative to every ancestor module, the root
  // included, so the full path decides for XLNet tensors.
  if (full_name.find("xlnet") != std::string::npos) {
    return full_name.find("norm") != std::string::npos;
  }
  if (ends_with(own_name, "weight") &&
      (dynamic_cast<const model::ChannelLayerNormImpl*>(&owner) ||
       dynamic_cast<const torch::nn::GroupNormImpl*>(&owner))) {
    return true;
  }
  if (ends_with(own_name, "scale") && (dynamic_cast<const model::ScaleImpl*>(&owner) ||
                                       dynamic_cast<const model::AffineDropPathImpl*>(&owner))) {
    return true;
  }
  return ends_with(own_name, "rel_pe");
}

}  // namespace

ParamGroups make_param_groups(const torch::nn::Module& model) {
  ParamGroups groups;
  for (const auto& item : model.named_modules("", /*include_self=*/true)) {
    const std::string& prefix = item.key();
    for (const auto& p : item.value()->named_parameters(/*recurse=*/false)) {
      const std::string full = prefix.empty() ? p.key() : prefix + "." + p.key();
      if (no_decay(full, p.key(), *item.value())) {
        groups.no_decay_names.push_back(full);
        groups.no_decay.push_back(p.value());
      } else {
        groups.decay_names.push_back(full);
        groups.decay.push_back(p.value());
      }
    }
  }
  return groups;
}

std::unique_ptr<torch::optim::AdamW> make_optimizer(const torch::nn::Module& model,
                                                    const config::OptConfig& opt) {
  if (opt.type != "AdamW") throw Error("opt.type", opt.type + " is not implemented", "use AdamW");
  ParamGroups g = make_param_groups(model);
  std::vector<torch::optim::OptimizerParamGroup> groups;
  auto decay = std::make_unique<torch::optim::AdamWOptions>(opt.learning_rate);
  decay->weight_decay(opt.weight_decay).betas({0.9, 0.999}).eps(1e-8).amsgrad(false);
  auto none = std::make_unique<torch::optim::AdamWOptions>(opt.learning_rate);
  none->weight_decay(0.0).betas({0.9, 0.999}).eps(1e-8).amsgrad(false);
  groups.emplace_back(g.decay, std::move(decay));
  groups.emplace_back(g.no_decay, std::move(none));
  torch::optim::AdamWOptions defaults(opt.learning_rate);
  defaults.weight_decay(opt.weight_decay);
  return std::make_unique<torch::optim::AdamW>(std::move(groups), defaults);
}

void set_learning_rate(torch::optim::Optimizer& optimizer, double lr) {
  for (auto& group : optimizer.param_groups()) {
    static_cast<torch::optim::AdamWOptions&>(group.options()).lr(lr);
  }
}

}  // namespace asl::train
