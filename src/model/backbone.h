// ASL's convTransformer backbone (reference backbones.py ConvTransformerBackbone):
// per-stream 1x1 projections, convolutional embedding, absolute
// sinusoid position encoding, stride-1 stem blocks (level 0), the XLNet layer, strided
// branch blocks (levels 1..L).
//
// Names: proj.{i}.conv.* (several streams only), embd.{i}.conv.*, embd_norm.{i}.*,
// stem.{i}.*, branch.{i}.*, xlnet.* (use_xl only), fusion.{j}.* (the NLQ network's
// cross-attention, docs/nlq.md). The position table is a plain
// tensor, not a parameter or buffer (the reference's is non-persistent).
#pragma once

#include <torch/nn/module.h>
#include <torch/nn/modules/container/modulelist.h>
#include <torch/nn/pimpl.h>

#include <cstdint>
#include <vector>

#include "core/config.h"
#include "model/fusion.h"
#include "model/layers.h"
#include "model/transformer_block.h"
#include "model/xlnet.h"

namespace asl::model {

class ConvTransformerBackboneImpl : public torch::nn::Module {
 public:
  explicit ConvTransformerBackboneImpl(const config::ModelConfig& cfg);
  // feats [B, sum(input_dim), T], mask [B,1,T] -> one (features, mask) per level,
  // level 0 at full resolution. text: the embedded query (NLQ network only), read by the
  // cross-attention block after the stem and after each branch block.
  std::vector<Masked> forward(const at::Tensor& feats, const at::Tensor& mask,
                              const TextTokens& text = {});

  // The position encoding added to the embedded features [1, C, T]: the table cut to T,
  // or at evaluation with T >= max_len the table linearly resized to T.
  at::Tensor position_encoding(int64_t T, const at::TensorOptions& options) const;

  torch::nn::ModuleList proj{nullptr}, embd{nullptr}, embd_norm{nullptr}, stem{nullptr},
      branch{nullptr}, fusion{nullptr};
  XLNetModel xlnet{nullptr};

 private:
  std::vector<int64_t> input_dims_;  // one per stream; a single stream has no projection
  std::vector<MaskedConv1D> proj_, embd_;
  std::vector<ChannelLayerNorm> embd_norm_;  // null entries without embd_with_ln
  std::vector<TransformerBlock> stem_, branch_;
  std::vector<CrossAttentionBlock> fusion_;  // NLQ only
  bool use_abs_pe_;
  bool use_xl_;
  int64_t max_len_;
  at::Tensor pos_embd_;  // [1, C, max_len] float32, already divided by sqrt(C)
};
TORCH_MODULE(ConvTransformerBackbone);

}  // namespace asl::model
