// Multi-head convolutional self-attention with a mask (reference MaskedMHCA, and
// ActionFormer's LocalMaskedMHCA when a window is given). Depthwise convolutions
// (stride 1 or the block's downsampling stride) feed LayerNorms and 1x1 projections.
//
// Global (window <= 1): every query sees every valid key (padded keys are -inf, values
// at padded keys zeroed). Local (window w > 1, odd): query t sees keys t-w/2..t+w/2
// inside the sequence; padded keys get -1e4 added to their score, rows of padded
// queries are zeroed after the softmax (ActionFormer's semantics; computed here as a
// dense band rather than the reference's overlapping chunks, which gives the same
// values and needs no length divisibility). Output: projection, dropout, times the
// query mask.
//
// Names: query_conv, query_norm, key_conv, key_norm, value_conv, value_norm, key,
// query, value, proj (the 1x1 convolutions carry biases, initialised to zero).
#pragma once

#include <torch/nn/module.h>
#include <torch/nn/modules/conv.h>
#include <torch/nn/pimpl.h>

#include <cstdint>

#include "model/layers.h"

namespace asl::model {

struct AttentionOptions {
  int64_t n_embd = 0;
  int64_t n_head = 1;
  int64_t stride = 1;         // downsampling of queries, keys and values (1 or even)
  int64_t window_size = -1;   // <= 1: global attention
  double attn_pdrop = 0.0;    // dropout on the attention map
  double proj_pdrop = 0.0;    // dropout on the output projection
};

class MaskedMHCAImpl : public torch::nn::Module {
 public:
  explicit MaskedMHCAImpl(const AttentionOptions& options);
  // x [B,C,T], mask [B,1,T] -> output [B,C,T/stride] and the downsampled mask.
  Masked forward(const at::Tensor& x, const at::Tensor& mask);

  MaskedConv1D query_conv{nullptr}, key_conv{nullptr}, value_conv{nullptr};
  ChannelLayerNorm query_norm{nullptr}, key_norm{nullptr}, value_norm{nullptr};
  torch::nn::Conv1d key{nullptr}, query{nullptr}, value{nullptr}, proj{nullptr};

 private:
  // Scores, softmax and weighted values, [B,nh,T',hs] in and out.
  at::Tensor global_attention(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                              const at::Tensor& kv_mask);
  at::Tensor local_attention(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                             const at::Tensor& kv_mask);

  AttentionOptions options_;
  int64_t head_channels_;
  double scale_;
};
TORCH_MODULE(MaskedMHCA);

// The local-window attention of one block, [B,N,T,D] in and out: q already multiplied by
// 1/sqrt(D), kv_mask [B,1,T] bool, window_size 2w+1 > 1 (see the class comment).
at::Tensor local_window_attention(const at::Tensor& q_scaled, const at::Tensor& k,
                                  const at::Tensor& v, const at::Tensor& kv_mask,
                                  int64_t window_size, double attn_pdrop, bool training);

}  // namespace asl::model
