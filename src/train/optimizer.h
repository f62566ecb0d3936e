// The reference's optimizer (libs/utils/train_utils.py make_optimizer):
// AdamW whose parameters are split into decayed and not-decayed groups by the reference's
// rules. The reference's third group ("neither" set: the ChannelBlocks' nn.LayerNorm weights
// and mu/sigma) is decayed like the first, so two groups give the same updates.
#pragma once

#include <torch/nn/module.h>
#include <torch/optim/adamw.h>

#include <memory>
#include <string>
#include <vector>

#include "core/config.h"

namespace asl::train {

struct ParamGroups {
  std::vector<std::string> decay_names, no_decay_names;
  std::vector<at::Tensor> decay, no_decay;
};

// Biases, channel LayerNorm weights, XLNet layer-norm tensors, Scale and AffineDropPath
// scales: no decay. Everything else (conv / linear weights, XLNet projections, torch
// LayerNorm weights of ChannelBlocks, mu / sigma): decay.
ParamGroups make_param_groups(const torch::nn::Module& model);

// AdamW(lr, betas (0.9, 0.999), eps 1e-8) with {decay: opt.weight_decay, no_decay: 0}.
std::unique_ptr<torch::optim::AdamW> make_optimizer(const torch::nn::Module& model,
                                                    const config::OptConfig& opt);

// Sets every group's learning rate (the schedule's value for the coming step).
void set_learning_rate(torch::optim::Optimizer& optimizer, double lr);

}  // namespace asl::train
