// Classification and regression heads, shared over pyramid levels (reference
// meta_archs.py PtTransformerClsHead / PtTransformerRegHead):
// (num_layers - 1) x [MaskedConv1D k, no bias with LayerNorm -> LayerNorm -> ReLU], then
//   cls: MaskedConv1D -> num_classes logits, bias -log((1 - p)/p) (classes listed in
//        head_empty_cls: -log((1 - 1e-6)/1e-6));
//   reg: MaskedConv1D -> 2 offsets, ReLU(scale_l * x) with a learnable Scale per level.
// Outputs are [B, channels, T_l], exactly zero at padded positions.
//
// Names: head.{i}.conv.*, norm.{i}.*, cls_head.conv.* / offset_head.conv.*, scale.{l}.scale.
// The reference's seg_conv head (computed, never used) is not built.
#pragma once

#include <torch/nn/module.h>
#include <torch/nn/modules/container/modulelist.h>
#include <torch/nn/pimpl.h>

#include <cstdint>
#include <vector>

#include "model/layers.h"

namespace asl::model {

struct HeadOptions {
  int64_t input_dim = 0;
  int64_t feat_dim = 0;
  int64_t num_layers = 3;
  int64_t kernel_size = 3;
  bool with_ln = true;
};

// The shared trunk: convolutions, LayerNorms and ReLUs.
class HeadTrunk {
 public:
  void build(torch::nn::Module& owner, const HeadOptions& options);
  at::Tensor forward(const at::Tensor& x, const at::Tensor& mask);

  torch::nn::ModuleList head{nullptr}, norm{nullptr};

 private:
  std::vector<MaskedConv1D> convs_;
  std::vector<ChannelLayerNorm> norms_;  // null entries without LayerNorm
};

class ClsHeadImpl : public torch::nn::Module {
 public:
  ClsHeadImpl(const HeadOptions& options, int64_t num_classes, double prior_prob,
              const std::vector<int64_t>& empty_cls);
  std::vector<at::Tensor> forward(const std::vector<Masked>& levels);

  HeadTrunk trunk;
  MaskedConv1D cls_head{nullptr};
};
TORCH_MODULE(ClsHead);

class RegHeadImpl : public torch::nn::Module {
 public:
  RegHeadImpl(const HeadOptions& options, int64_t fpn_levels);
  std::vector<at::Tensor> forward(const std::vector<Masked>& levels);

  HeadTrunk trunk;
  torch::nn::ModuleList scale{nullptr};
  MaskedConv1D offset_head{nullptr};

 private:
  std::vector<Scale> scales_;
};
TORCH_MODULE(RegHead);

}  // namespace asl::model
