// The query side of the NLQ network (model_name ASL_NLQ, docs/nlq.md): the text embedding,
// the video-to-text cross-attention block the backbone applies at every pyramid level, and the
// FiLM modulation that conditions the classification head on the sentence.
//
// Names: ln, query, key, value, proj (cross-attention; 1x1 convolutions with biases);
// weight, bias (FiLM's linear map, both zero at the start).
#pragma once

#include <torch/nn/module.h>
#include <torch/nn/modules/conv.h>
#include <torch/nn/modules/linear.h>
#include <torch/nn/pimpl.h>

#include <cstdint>
#include <vector>

#include "model/layers.h"

namespace asl::model {

// The query's tokens after the text embedding: x [B, C, L] (zero at padded tokens) and
// mask [B, 1, L] bool. Empty (undefined x) for the Moment Queries network.
using TextTokens = Masked;

// Pre-LayerNorm multi-head attention of every video step over the query's valid tokens, added
// to the video features (padded steps stay as they were):
//   Z <- Z + m * W_o [softmax((W_q LN(Z))^T (W_k E) / sqrt(C/H) + log q) (W_v E)^T]^T
class CrossAttentionBlockImpl : public torch::nn::Module {
 public:
  CrossAttentionBlockImpl(int64_t n_embd, int64_t n_head, double attn_pdrop, double proj_pdrop);
  // x [B,C,T], mask [B,1,T] bool; text.x [B,C,L], text.mask [B,1,L] bool with >= 1 valid token
  // per sample -> [B,C,T].
  at::Tensor forward(const at::Tensor& x, const at::Tensor& mask, const TextTokens& text);

  ChannelLayerNorm ln{nullptr};
  torch::nn::Conv1d query{nullptr}, key{nullptr}, value{nullptr}, proj{nullptr};

 private:
  int64_t n_head_;
  double attn_pdrop_, proj_pdrop_;
};
TORCH_MODULE(CrossAttentionBlock);

// The sentence vector: the mean of the valid tokens, [B, C].
at::Tensor sentence_vector(const TextTokens& text);

// H' = (H * (1 + gamma) + beta) * m with [gamma; beta] = W s + b, per level; zero-initialised.
class FilmImpl : public torch::nn::Module {
 public:
  FilmImpl(int64_t sentence_dim, int64_t feature_dim);
  // levels: (features [B,D,T_l], mask [B,1,T_l]); sentence [B, sentence_dim].
  std::vector<Masked> forward(const std::vector<Masked>& levels, const at::Tensor& sentence);

  at::Tensor weight, bias;  // [2D, sentence_dim], [2D]

 private:
  int64_t feature_dim_;
};
TORCH_MODULE(Film);

}  // namespace asl::model
