// The one-layer XLNet relative-attention encoder ASL applies to the level-0 features
// (reference modeling_xlnet_x.py, XLNetModel with inputs_embeds, attention type "bi",
// no memory, no segments). Only the live path is built: the word
// embedding, mask_emb, seg_embed, r_s_bias and the two-stream path are not.
//
// Names (under the backbone's `xlnet`): layer.0.rel_attn.{q,k,v,o,r} [D,n,d],
// layer.0.rel_attn.{r_r_bias,r_w_bias} [n,d], layer.0.rel_attn.layer_norm.*,
// layer.0.ff.layer_norm.*, layer.0.ff.layer_1.*, layer.0.ff.layer_2.*.
#pragma once

#include <torch/nn/module.h>
#include <torch/nn/modules/container/modulelist.h>
#include <torch/nn/modules/linear.h>
#include <torch/nn/modules/normalization.h>
#include <torch/nn/pimpl.h>

#include <cstdint>

namespace asl::model {

struct XLNetOptions {
  int64_t d_model = 0;
  int64_t n_head = 1;
  int64_t d_head = 1;
  int64_t d_inner = 1;
  double dropout = 0.1;
  double layer_norm_eps = 1e-12;
};

// Relative multi-head attention with its residual LayerNorm. Inputs in XLNet's layout:
// h [T,B,D], r [2T,B,D] (positional embeddings for distances T..-T+1) and the additive
// mask [T,T,B,1] (1 where query i must not see key j).
class XLNetRelativeAttentionImpl : public torch::nn::Module {
 public:
  explicit XLNetRelativeAttentionImpl(const XLNetOptions& options);
  at::Tensor forward(const at::Tensor& h, const at::Tensor& attn_mask, const at::Tensor& r);

  at::Tensor q, k, v, o, r, r_r_bias, r_w_bias;
  torch::nn::LayerNorm layer_norm{nullptr};

 private:
  XLNetOptions options_;
};
TORCH_MODULE(XLNetRelativeAttention);

class XLNetFeedForwardImpl : public torch::nn::Module {
 public:
  explicit XLNetFeedForwardImpl(const XLNetOptions& options);
  at::Tensor forward(const at::Tensor& x);

  torch::nn::LayerNorm layer_norm{nullptr};
  torch::nn::Linear layer_1{nullptr}, layer_2{nullptr};

 private:
  double dropout_;
};
TORCH_MODULE(XLNetFeedForward);

class XLNetLayerImpl : public torch::nn::Module {
 public:
  explicit XLNetLayerImpl(const XLNetOptions& options);
  at::Tensor forward(const at::Tensor& h, const at::Tensor& attn_mask, const at::Tensor& r);

  XLNetRelativeAttention rel_attn{nullptr};
  XLNetFeedForward ff{nullptr};
};
TORCH_MODULE(XLNetLayer);

class XLNetModelImpl : public torch::nn::Module {
 public:
  explicit XLNetModelImpl(const XLNetOptions& options);
  // x [B,D,T], mask [B,1,T] bool -> [B,D,T]. Padded queries see the valid keys and
  // themselves; the output is not masked.
  at::Tensor forward(const at::Tensor& x, const at::Tensor& mask);

  torch::nn::ModuleList layer{nullptr};

 private:
  XLNetOptions options_;
  XLNetLayer layer0_{nullptr};
};
TORCH_MODULE(XLNetModel);

// XLNet's sinusoid embeddings of the relative distances T, T-1, ..., -T+1:
// [2T, D] = [sin(pos * inv_freq) | cos(pos * inv_freq)], inv_freq_c = 10000^(-2c/D),
// computed in `dtype` with the reference's operations.
at::Tensor xlnet_relative_positions(int64_t T, int64_t d_model, const at::TensorOptions& options);

}  // namespace asl::model
