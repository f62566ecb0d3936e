#include "model/channel_block.h"

#include <torch/nn/modules/activation.h>

#include <cmath>

#include "model/layers.h"
#include "model/parallel_gemm.h"

namespace asl::model {
namespace {

// The backbone's init sets every Linear bias to zero.
torch::nn::Linear linear(int64_t in, int64_t out, bool bias = true) {
  torch::nn::Linear layer(torch::nn::LinearOptions(in, out).bias(bias));
  if (bias) {
    torch::NoGradGuard no_grad;
    layer->bias.zero_();
  }
  return layer;
}

}  // namespace

ChannelAttentionImpl::ChannelAttentionImpl(int64_t dim, int64_t num_heads)
    : torch::nn::Module("ChannelAttention"), num_heads_(num_heads) {
  scale_ = std::pow(static_cast<double>(dim / num_heads), -0.5);
  qkv = register_module("qkv", linear(dim, 3 * dim, /*bias=*/false));
  proj = register_module("proj", linear(dim, dim));
}

at::Tensor ChannelAttentionImpl::forward(const at::Tensor& x) {
  const int64_t B = x.size(0), T = x.size(1), C = x.size(2);
  const at::Tensor qkv_out = parallel_linear(x, qkv->weight, qkv->bias)
                                 .reshape({B, T, 3, num_heads_, C / num_heads_})
                                 .permute({2, 0, 3, 1, 4});
  const at::Tensor q = qkv_out[0], k = qkv_out[1] * scale_, v = qkv_out[2];
  // [B,h,hd,hd]: channel-to-channel attention accumulated over time.
  const at::Tensor attention = at::softmax(parallel_matmul(k.transpose(-1, -2), v), -1);
  const at::Tensor out = parallel_matmul(attention, q.transpose(-1, -2)).transpose(-1, -2);
  return parallel_linear(out.transpose(1, 2).reshape({B, T, C}), proj->weight, proj->bias);
}

ChannelBlockImpl::ChannelBlockImpl(int64_t n_embd, int64_t num_heads, double drop_path)
    : torch::nn::Module("ChannelBlock"), drop_path_(drop_path) {
  attn = register_module("attn", ChannelAttention(n_embd, num_heads));
  norm2 = register_module("norm2", torch::nn::LayerNorm(torch::nn::LayerNormOptions({n_embd})));
  const int64_t hidden = 4 * n_embd;
  mlp_in_ = linear(n_embd, hidden);
  mlp_out_ = linear(hidden, n_embd);
  mlp = register_module("mlp", torch::nn::Sequential(mlp_in_, torch::nn::GELU(), mlp_out_));
}

at::Tensor ChannelBlockImpl::forward(const at::Tensor& x) {
  at::Tensor u = x.permute({0, 2, 1});
  u = u + drop_path(attn->forward(u), drop_path_, is_training());
  // mlp's layers called one by one: the same as mlp->forward, with split products.
  const at::Tensor hidden =
      at::gelu(parallel_linear(norm2->forward(u), mlp_in_->weight, mlp_in_->bias));
  u = u + drop_path(parallel_linear(hidden, mlp_out_->weight, mlp_out_->bias), drop_path_,
                    is_training());
  return u.permute({0, 2, 1});
}

}  // namespace asl::model
