// ASL's channel attention (reference blocks.py ChannelAttention / ChannelBlock), mixed
// into the output of every stride-1 TransformerBlock. On u = x^T [B,T,C]:
//
//   q,k,v = split(u W_qkv^T) per head [B,h,T,hd]
//   G     = softmax_j( sum_t k[t,i] v[t,j] / sqrt(hd) )   sums over ALL T, padding included
//   o[t,i]= sum_j G[i,j] q[t,j]  -> heads side by side -> proj
//   u     = u + DropPath(proj(o)) ; u = u + DropPath(MLP(LayerNorm(u)))
//
// No mask is applied anywhere (a reference quirk kept for fidelity). The reference's
// `norm1` is never called and is not built.
//
// Names: attn.qkv.weight (no bias), attn.proj.{weight,bias}, norm2.{weight,bias},
// mlp.0.{weight,bias}, mlp.2.{weight,bias}.
#pragma once

#include <torch/nn/module.h>
#include <torch/nn/modules/container/sequential.h>
#include <torch/nn/modules/linear.h>
#include <torch/nn/modules/normalization.h>
#include <torch/nn/pimpl.h>

#include <cstdint>

namespace asl::model {

class ChannelAttentionImpl : public torch::nn::Module {
 public:
  ChannelAttentionImpl(int64_t dim, int64_t num_heads);
  at::Tensor forward(const at::Tensor& x);  // [B,T,C] -> [B,T,C]

  torch::nn::Linear qkv{nullptr}, proj{nullptr};

 private:
  int64_t num_heads_;
  double scale_;
};
TORCH_MODULE(ChannelAttention);

class ChannelBlockImpl : public torch::nn::Module {
 public:
  ChannelBlockImpl(int64_t n_embd, int64_t num_heads, double drop_path);
  at::Tensor forward(const at::Tensor& x);  // [B,C,T] -> [B,C,T]

  ChannelAttention attn{nullptr};
  torch::nn::LayerNorm norm2{nullptr};
  torch::nn::Sequential mlp{nullptr};

 private:
  torch::nn::Linear mlp_in_{nullptr}, mlp_out_{nullptr};  // mlp's layers 0 and 2
  double drop_path_;
};
TORCH_MODULE(ChannelBlock);

}  // namespace asl::model
