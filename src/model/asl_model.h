// The ASL network (reference meta_archs.py PtTransformer, "LocPointTransformer"),
// backbone -> neck -> classification and regression heads (docs/model.md), plus the
// points and the class-level Gaussian parameters the targets use (model/targets.h).
//
// Every parameter carries the reference's state-dict name (without DataParallel's
// `module.` prefix): mu, sigma, mu_reg_left, ..., backbone.*, neck.*, cls_head.*,
// reg_head.*; the NLQ network adds text_proj.*, text_norm.*, backbone.fusion.*, cls_film.*
// (docs/nlq.md). The reference's dead parts (backbone_m, neck_m, seg_conv, strided blocks'
// channel_attn, ChannelBlock.norm1, downsample_conv, XLNet word_embedding / mask_emb /
// seg_embed / r_s_bias) are not built; docs/model.md lists the tree.
//
// Training and evaluation follow the module's train()/eval() state: dropout and drop
// path act in training only; evaluation resizes the position encoding for inputs of
// max_seq_len steps or more.
#pragma once

#include <torch/nn/module.h>
#include <torch/nn/pimpl.h>

#include <cstdint>
#include <vector>

#include "core/config.h"
#include "model/backbone.h"
#include "model/fusion.h"
#include "model/heads.h"
#include "model/neck.h"
#include "model/outputs.h"
#include "model/points.h"

namespace asl::model {

class PtTransformerImpl : public torch::nn::Module {
 public:
  // Uses cfg.model (with its derived input_dim, num_classes, max_seq_len, train_cfg).
  explicit PtTransformerImpl(const config::Config& cfg);
  explicit PtTransformerImpl(const config::ModelConfig& cfg);

  // feats [B, sum(input_dim), T] (zero-padded), masks [B,1,T] bool, T a multiple of
  // max_div_factor() -> per-level logits, offsets, masks and points. The NLQ network
  // (text_dim > 0) also takes the query's tokens [B, text_dim, L] and their mask [B,1,L].
  NetworkOutputs forward(const at::Tensor& feats, const at::Tensor& masks,
                         const at::Tensor& query = {}, const at::Tensor& query_mask = {});

  // Class-level Gaussians of the action-sensitivity weights, each [num_classes, 1].
  const at::Tensor& mu() const { return mu_; }
  const at::Tensor& sigma() const { return sigma_; }
  const at::Tensor& mu_reg_left() const { return mu_reg_left_; }
  const at::Tensor& sigma_reg_left() const { return sigma_reg_left_; }
  const at::Tensor& mu_reg_right() const { return mu_reg_right_; }
  const at::Tensor& sigma_reg_right() const { return sigma_reg_right_; }

  // Points of every level for an input of T steps (level l has T / stride_l steps),
  // in the parameters' dtype and device.
  std::vector<at::Tensor> points(int64_t T) const;
  const PointGenerator& point_generator() const { return points_; }

  const config::ModelConfig& config() const { return cfg_; }
  bool is_nlq() const { return cfg_.text_dim > 0; }
  int64_t num_levels() const { return static_cast<int64_t>(points_.strides().size()); }

  ConvTransformerBackbone backbone{nullptr};
  Neck neck{nullptr};
  ClsHead cls_head{nullptr};
  RegHead reg_head{nullptr};
  // NLQ only (docs/nlq.md): the text embedding and the head's FiLM.
  MaskedConv1D text_proj{nullptr};
  ChannelLayerNorm text_norm{nullptr};
  Film cls_film{nullptr};

 private:
  TextTokens embed_text(const at::Tensor& query, const at::Tensor& query_mask);

  config::ModelConfig cfg_;
  PointGenerator points_;
  at::Tensor mu_, sigma_, mu_reg_left_, sigma_reg_left_, mu_reg_right_, sigma_reg_right_;
};
TORCH_MODULE(PtTransformer);

}  // namespace asl::model
