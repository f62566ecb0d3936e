#include "model/heads.h"

#include <torch/nn/modules/linear.h>

#include <cmath>
#include <string>

#include "core/error.h"

namespace asl::model {

void HeadTrunk::build(torch::nn::Module& owner, const HeadOptions& options) {
  if (options.num_layers < 1) throw Error("model.head_num_layers", "must be at least 1");
  if (options.num_layers == 1 && options.input_dim != options.feat_dim) {
    throw Error("model.head_dim",
                "a one-layer head reads fpn_dim features with a head_dim classifier; make "
                "them equal or use more layers");
  }
  head = owner.register_module("head", torch::nn::ModuleList());
  norm = owner.register_module("norm", torch::nn::ModuleList());
  for (int64_t i = 0; i + 1 < options.num_layers; ++i) {
    convs_.push_back(MaskedConv1D(i == 0 ? options.input_dim : options.feat_dim,
                                  options.feat_dim, options.kernel_size, 1, 1,
                                  /*bias=*/!options.with_ln));
    head->push_back(convs_.back());
    if (options.with_ln) {
      norms_.push_back(ChannelLayerNorm(options.feat_dim));
      norm->push_back(norms_.back());
    } else {
      norms_.push_back(ChannelLayerNorm(nullptr));
      norm->push_back(torch::nn::Identity());
    }
  }
}

at::Tensor HeadTrunk::forward(const at::Tensor& x, const at::Tensor& mask) {
  at::Tensor out = x;
  for (std::size_t i = 0; i < convs_.size(); ++i) {
    out = convs_[i]->forward(out, mask).x;
    if (norms_[i]) out = norms_[i]->forward(out);
    out = at::relu(out);
  }
  return out;
}

ClsHeadImpl::ClsHeadImpl(const HeadOptions& options, int64_t num_classes, double prior_prob,
                         const std::vector<int64_t>& empty_cls)
    : torch::nn::Module("PtTransformerClsHead") {
  trunk.build(*this, options);
  cls_head = register_module(
      "cls_head", MaskedConv1D(options.feat_dim, num_classes, options.kernel_size));
  // The prior keeps early training stable: sigmoid(bias) = prior_prob.
  torch::NoGradGuard no_grad;
  cls_head->conv->bias.fill_(-std::log((1.0 - prior_prob) / prior_prob));
  for (int64_t c : empty_cls) {
    if (c < 0 || c >= num_classes) {
      throw Error("train_cfg.head_empty_cls", "class " + std::to_string(c) +
                                                  " is outside [0, " +
                                                  std::to_string(num_classes) + ")");
    }
    cls_head->conv->bias[c].fill_(-std::log((1.0 - 1e-6) / 1e-6));
  }
}

std::vector<at::Tensor> ClsHeadImpl::forward(const std::vector<Masked>& levels) {
  std::vector<at::Tensor> logits;
  for (const Masked& level : levels) {
    logits.push_back(cls_head->forward(trunk.forward(level.x, level.mask), level.mask).x);
  }
  return logits;
}

RegHeadImpl::RegHeadImpl(const HeadOptions& options, int64_t fpn_levels)
    : torch::nn::Module("PtTransformerRegHead") {
  trunk.build(*this, options);
  scale = register_module("scale", torch::nn::ModuleList());
  for (int64_t l = 0; l < fpn_levels; ++l) {
    scales_.push_back(Scale(1.0));
    scale->push_back(scales_.back());
  }
  // num_bins = 0 in the reference's model: two offsets per point.
  offset_head = register_module(
      "offset_head", MaskedConv1D(options.feat_dim, 2, options.kernel_size));
}

std::vector<at::Tensor> RegHeadImpl::forward(const std::vector<Masked>& levels) {
  if (levels.size() != scales_.size()) {
    throw Error("model", "the regression head has " + std::to_string(scales_.size()) +
                             " level scales, got " + std::to_string(levels.size()) + " levels");
  }
  std::vector<at::Tensor> offsets;
  for (std::size_t l = 0; l < levels.size(); ++l) {
    const at::Tensor x = trunk.forward(levels[l].x, levels[l].mask);
    offsets.push_back(at::relu(scales_[l]->forward(offset_head->forward(x, levels[l].mask).x)));
  }
  return offsets;
}

}  // namespace asl::model
