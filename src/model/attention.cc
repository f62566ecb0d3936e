#include "model/attention.h"

#include <ATen/Parallel.h>

#include <cmath>
#include <limits>
#include <string>

#include "core/error.h"
#include "model/kernel_hooks.h"
#include "model/parallel_gemm.h"

namespace asl::model {
namespace {

// The reference zeroes every Conv1d bias of the backbone.
torch::nn::Conv1d pointwise_conv(int64_t channels) {
  torch::nn::Conv1d conv(torch::nn::Conv1dOptions(channels, channels, 1));
  torch::NoGradGuard no_grad;
  conv->bias.zero_();
  return conv;
}

}  // namespace

MaskedMHCAImpl::MaskedMHCAImpl(const AttentionOptions& options)
    : torch::nn::Module(options.window_size > 1 ? "LocalMaskedMHCA" : "MaskedMHCA"),
      options_(options) {
  const int64_t C = options.n_embd;
  if (options.n_head <= 0 || C % options.n_head != 0) {
    throw Error("model.n_head", std::to_string(C) + " channels are not divisible by " +
                                    std::to_string(options.n_head) + " heads");
  }
  if (options.stride != 1 && options.stride % 2 != 0) {
    throw Error("model.scale_factor", "attention strides must be 1 or even, got " +
                                          std::to_string(options.stride));
  }
  head_channels_ = C / options.n_head;
  scale_ = 1.0 / std::sqrt(static_cast<double>(head_channels_));

  // Depthwise kernels: 3 at stride 1, stride + 1 when downsampling.
  const int64_t s = options.stride;
  const int64_t kernel = s > 1 ? s + 1 : 3;
  query_conv = register_module("query_conv", MaskedConv1D(C, C, kernel, s, C, false));
  query_norm = register_module("query_norm", ChannelLayerNorm(C));
  key_conv = register_module("key_conv", MaskedConv1D(C, C, kernel, s, C, false));
  key_norm = register_module("key_norm", ChannelLayerNorm(C));
  value_conv = register_module("value_conv", MaskedConv1D(C, C, kernel, s, C, false));
  value_norm = register_module("value_norm", ChannelLayerNorm(C));
  key = register_module("key", pointwise_conv(C));
  query = register_module("query", pointwise_conv(C));
  value = register_module("value", pointwise_conv(C));
  proj = register_module("proj", pointwise_conv(C));
}

Masked MaskedMHCAImpl::forward(const at::Tensor& x, const at::Tensor& mask) {
  const int64_t B = x.size(0), C = x.size(1);
  auto [q, qx_mask] = query_conv->forward(x, mask);
  q = query_norm->forward(q);
  auto [k, kv_mask] = key_conv->forward(x, mask);
  k = key_norm->forward(k);
  at::Tensor v = value_norm->forward(value_conv->forward(x, mask).x);

  q = query->forward(q);
  k = key->forward(k);
  v = value->forward(v);
  // (B, nh*hs, T') -> (B, nh, T', hs); channel h*hs + d is head h, dimension d.
  const int64_t nh = options_.n_head, hs = head_channels_;
  k = k.view({B, nh, hs, -1}).transpose(2, 3);
  q = q.view({B, nh, hs, -1}).transpose(2, 3);
  v = v.view({B, nh, hs, -1}).transpose(2, 3);

  at::Tensor out = options_.window_size > 1 ? local_attention(q, k, v, kv_mask)
                                            : global_attention(q, k, v, kv_mask);
  out = out.transpose(2, 3).contiguous().view({B, C, -1});
  out = maybe_dropout(proj->forward(out), options_.proj_pdrop, is_training()) *
        qx_mask.to(out.scalar_type());
  return {out, qx_mask};
}

at::Tensor MaskedMHCAImpl::global_attention(const at::Tensor& q, const at::Tensor& k,
                                            const at::Tensor& v, const at::Tensor& kv_mask) {
  using torch::indexing::None;
  using torch::indexing::Slice;
  // Long sequences: one block of query rows at a time (model/parallel_gemm.h); not with
  // dropout on the attention weights (the reference fixes it at 0).
  const int64_t T = q.size(2);
  if ((!is_training() || options_.attn_pdrop == 0.0) &&
      attention_in_blocks(2 * q.size(0) * q.size(1) * T * T * q.size(3))) {
    const at::Tensor blocked = blocked_attention(q * scale_, k, v, kv_mask, at::get_num_threads());
    if (blocked.defined()) return blocked;
  }
  at::Tensor att = parallel_matmul(q * scale_, k.transpose(-2, -1));
  att = att.masked_fill(at::logical_not(kv_mask.index({Slice(), Slice(), None, Slice()})),
                        -std::numeric_limits<double>::infinity());
  att = at::softmax(att, -1);
  att = maybe_dropout(att, options_.attn_pdrop, is_training());
  return parallel_matmul(att,
                         v * kv_mask.index({Slice(), Slice(), Slice(), None}).to(v.scalar_type()));
}

at::Tensor MaskedMHCAImpl::local_attention(const at::Tensor& q, const at::Tensor& k,
                                           const at::Tensor& v, const at::Tensor& kv_mask) {
  const bool plain = !is_training() || options_.attn_pdrop == 0.0;
  if (plain && q.is_cuda() && kernel_hooks().local_attention)
    return kernel_hooks().local_attention(q * scale_, k, v, kv_mask, options_.window_size);
  return local_window_attention(q * scale_, k, v, kv_mask, options_.window_size,
                                options_.attn_pdrop, is_training());
}

at::Tensor local_window_attention(const at::Tensor& q_scaled, const at::Tensor& k,
                                  const at::Tensor& v, const at::Tensor& kv_mask,
                                  int64_t window_size, double attn_pdrop, bool training) {
  using torch::indexing::None;
  using torch::indexing::Slice;
  const int64_t w = window_size / 2, band = 2 * w + 1;
  const int64_t B = q_scaled.size(0), T = q_scaled.size(2);

  // Key t + o for query t and offset o in [-w, w]: windows over a zero-padded sequence.
  const at::Tensor k_windows = at::constant_pad_nd(k, {0, 0, w, w}).unfold(2, band, 1);
  at::Tensor att = at::einsum("bntd,bntdw->bntw", {q_scaled, k_windows});

  // Additive mask: 0 for valid keys, -1e4 for padded keys, -inf outside the sequence.
  const at::Tensor valid = kv_mask.view({B, T});
  const at::Tensor key_bias =
      at::zeros({B, T}, q_scaled.options()).masked_fill(at::logical_not(valid), -1e4);
  const at::Tensor band_bias =
      at::constant_pad_nd(key_bias, {w, w}, -std::numeric_limits<double>::infinity())
          .unfold(1, band, 1)
          .unsqueeze(1);
  att = at::softmax(att + band_bias, -1);
  // Rows of padded queries are zeroed (the reference guards against all-masked rows).
  att = att.masked_fill(at::logical_not(valid.index({Slice(), None, Slice(), None})), 0.0);
  att = maybe_dropout(att, attn_pdrop, training);

  const at::Tensor v_windows = at::constant_pad_nd(v, {0, 0, w, w}).unfold(2, band, 1);
  return at::einsum("bntw,bntdw->bntd", {att, v_windows});
}

}  // namespace asl::model
