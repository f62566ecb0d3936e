// The neck between backbone and heads (reference necks.py).
//
// identity: a channel LayerNorm per level (fpn_norms.{i}), masks unchanged; needs
//   fpn_dim equal to the embedding width.
// fpn: ActionFormer's FPN1D: per level a 1x1 lateral MaskedConv1D (lateral_convs.{i}),
//   a top-down sum with nearest upsampling, a depthwise k=3 MaskedConv1D
//   (fpn_convs.{i}) and a LayerNorm (fpn_norms.{i}); convolution biases only without
//   LayerNorm. (The ego4d_asl copy of FPN1D cannot be built by its own model, which
//   passes it an unknown argument, and replaces the last lateral by an ACConv; the
//   working ActionFormer version is used.)
// Levels below fpn_start_level are dropped.
#pragma once

#include <torch/nn/module.h>
#include <torch/nn/modules/container/modulelist.h>
#include <torch/nn/pimpl.h>

#include <cstdint>
#include <vector>

#include "core/config.h"
#include "model/layers.h"

namespace asl::model {

class NeckImpl : public torch::nn::Module {
 public:
  explicit NeckImpl(const config::ModelConfig& cfg);
  std::vector<Masked> forward(const std::vector<Masked>& levels);

  torch::nn::ModuleList lateral_convs{nullptr}, fpn_convs{nullptr}, fpn_norms{nullptr};

 private:
  bool fpn_;
  int64_t start_level_;
  double scale_factor_;
  std::vector<MaskedConv1D> lateral_, smooth_;
  std::vector<ChannelLayerNorm> norms_;  // null entries without fpn_with_ln
};
TORCH_MODULE(Neck);

}  // namespace asl::model
