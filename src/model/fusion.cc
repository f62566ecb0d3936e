#include "model/fusion.h"

#include <ATen/ATen.h>
#include <torch/nn/init.h>

#include <cmath>
#include <limits>
#include <string>

#include "core/error.h"

namespace asl::model {

namespace {

torch::nn::Conv1d pointwise(int64_t channels) {
  return torch::nn::Conv1d(torch::nn::Conv1dOptions(channels, channels, 1));
}

}  // namespace

CrossAttentionBlockImpl::CrossAttentionBlockImpl(int64_t n_embd, int64_t n_head,
                                                 double attn_pdrop, double proj_pdrop)
    : torch::nn::Module("CrossAttentionBlock"),
      n_head_(n_head),
      attn_pdrop_(attn_pdrop),
      proj_pdrop_(proj_pdrop) {
  if (n_head <= 0 || n_embd % n_head != 0) {
    throw Error("model.n_head", std::to_string(n_embd) + " channels do not split into " +
                                    std::to_string(n_head) + " heads");
  }
  ln = register_module("ln", ChannelLayerNorm(n_embd));
  query = register_module("query", pointwise(n_embd));
  key = register_module("key", pointwise(n_embd));
  value = register_module("value", pointwise(n_embd));
  proj = register_module("proj", pointwise(n_embd));
  for (auto* conv : {&query, &key, &value, &proj}) torch::nn::init::zeros_((*conv)->bias);
}

at::Tensor CrossAttentionBlockImpl::forward(const at::Tensor& x, const at::Tensor& mask,
                                            const TextTokens& text) {
  const int64_t B = x.size(0), C = x.size(1), T = x.size(2), L = text.x.size(2);
  const int64_t hs = C / n_head_;
  // [B,C,N] -> [B,H,N,hs]
  auto heads = [&](const at::Tensor& t, int64_t n) {
    return t.view({B, n_head_, hs, n}).transpose(2, 3);
  };
  const at::Tensor q = heads(query->forward(ln->forward(x)), T);
  const at::Tensor k = heads(key->forward(text.x), L);
  const at::Tensor v = heads(value->forward(text.x), L);
  at::Tensor scores = at::matmul(q * (1.0 / std::sqrt(static_cast<double>(hs))), k.transpose(2, 3));
  // Padded tokens get -inf: every step attends to the query's real tokens only.
  scores = scores.masked_fill(text.mask.logical_not().unsqueeze(1),
                              -std::numeric_limits<float>::infinity());
  at::Tensor att = at::softmax(scores, -1);
  att = maybe_dropout(att, attn_pdrop_, is_training());
  const at::Tensor out = at::matmul(att, v).transpose(2, 3).reshape({B, C, T});
  const at::Tensor y = maybe_dropout(proj->forward(out), proj_pdrop_, is_training());
  return x + y * mask.to(y.scalar_type());
}

at::Tensor sentence_vector(const TextTokens& text) {
  const at::Tensor m = text.mask.to(text.x.scalar_type());  // [B,1,L]
  return (text.x * m).sum(2) / m.sum(2).clamp_min(1.0);
}

FilmImpl::FilmImpl(int64_t sentence_dim, int64_t feature_dim)
    : torch::nn::Module("Film"), feature_dim_(feature_dim) {
  weight = register_parameter("weight", torch::zeros({2 * feature_dim, sentence_dim}));
  bias = register_parameter("bias", torch::zeros({2 * feature_dim}));
}

std::vector<Masked> FilmImpl::forward(const std::vector<Masked>& levels,
                                      const at::Tensor& sentence) {
  const at::Tensor gb = at::linear(sentence, weight, bias).unsqueeze(2);  // [B, 2D, 1]
  const at::Tensor gamma = gb.narrow(1, 0, feature_dim_);
  const at::Tensor beta = gb.narrow(1, feature_dim_, feature_dim_);
  std::vector<Masked> out;
  for (const Masked& level : levels) {
    const at::Tensor m = level.mask.to(level.x.scalar_type());
    out.push_back({(level.x * (1 + gamma) + beta) * m, level.mask});
  }
  return out;
}

}  // namespace asl::model
