#include "model/xlnet.h"

#include <torch/nn/init.h>

#include <cmath>

#include "model/layers.h"
#include "model/parallel_gemm.h"

namespace asl::model {
namespace {

// XLNet's initializer_range.
constexpr double kInitStd = 0.02;

at::Tensor normal_parameter(std::initializer_list<int64_t> shape) {
  at::Tensor t = torch::empty(shape);
  torch::NoGradGuard no_grad;
  t.normal_(0.0, kInitStd);
  return t;
}

torch::nn::Linear normal_linear(int64_t in, int64_t out) {
  torch::nn::Linear layer(torch::nn::LinearOptions(in, out));
  torch::NoGradGuard no_grad;
  layer->weight.normal_(0.0, kInitStd);
  layer->bias.zero_();
  return layer;
}

// Score[b,n,i,j] from bd[b,n,i,k] (k indexes distances T..-T+1): the entry for distance
// i - j, i.e. k = T - i + j. XLNet's reshape trick, kept for identical float results.
at::Tensor rel_shift_bnij(const at::Tensor& x, int64_t klen) {
  const auto s = x.sizes();
  at::Tensor y = x.reshape({s[0], s[1], s[3], s[2]});
  y = y.slice(2, 1);
  y = y.reshape({s[0], s[1], s[2], s[3] - 1});
  // The reference's index_select of columns 0..klen-1 is a plain narrow: same values, and
  // no gather / scatter-add over the [B, n, T, T] scores in the forward and backward passes.
  return y.narrow(3, 0, klen);
}

}  // namespace

at::Tensor xlnet_relative_positions(int64_t T, int64_t d_model, const at::TensorOptions& options) {
  const at::Tensor freq_seq = at::arange(0.0, static_cast<double>(d_model), 2.0, options);
  const at::Tensor inv_freq = at::reciprocal(at::pow(10000, freq_seq / d_model));
  const at::Tensor pos_seq = at::arange(static_cast<double>(T), static_cast<double>(-T), -1.0, options);
  const at::Tensor sinusoid = at::einsum("i,d->id", {pos_seq, inv_freq});
  return at::cat({at::sin(sinusoid), at::cos(sinusoid)}, -1);
}

XLNetRelativeAttentionImpl::XLNetRelativeAttentionImpl(const XLNetOptions& options)
    : torch::nn::Module("XLNetRelativeAttention"), options_(options) {
  const int64_t D = options.d_model, n = options.n_head, d = options.d_head;
  q = register_parameter("q", normal_parameter({D, n, d}));
  k = register_parameter("k", normal_parameter({D, n, d}));
  v = register_parameter("v", normal_parameter({D, n, d}));
  o = register_parameter("o", normal_parameter({D, n, d}));
  r = register_parameter("r", normal_parameter({D, n, d}));
  r_r_bias = register_parameter("r_r_bias", normal_parameter({n, d}));
  r_w_bias = register_parameter("r_w_bias", normal_parameter({n, d}));
  layer_norm = register_module(
      "layer_norm",
      torch::nn::LayerNorm(torch::nn::LayerNormOptions({D}).eps(options.layer_norm_eps)));
}

at::Tensor XLNetRelativeAttentionImpl::forward(const at::Tensor& h, const at::Tensor& attn_mask,
                                               const at::Tensor& pos_emb) {
  const bool training = is_training();
  const int64_t n = options_.n_head, d = options_.d_head;
  // The reference's einsums written as matrix products (the same sums), so that they
  // split over the intra-op threads in evaluation (parallel_gemm.h).
  // "ibh,hnd->ibnd": x [L,B,D] -> [L,B,n,d].
  const auto project = [&](const at::Tensor& x, const at::Tensor& w) {
    return parallel_matmul(x, w.reshape({w.size(0), n * d}))
        .view({x.size(0), x.size(1), n, d});
  };
  const at::Tensor q_head = project(h, q);
  const at::Tensor k_head = project(h, k);
  const at::Tensor v_head = project(h, v);
  const at::Tensor k_head_r = project(pos_emb, r);

  // "ibnd,jbnd->bnij": content and position scores; the latter shifted so column j holds
  // distance i - j.
  const auto scores = [](const at::Tensor& query, const at::Tensor& key) {
    return parallel_matmul(query.permute({1, 2, 0, 3}), key.permute({1, 2, 3, 0}));
  };
  const at::Tensor ac = scores(q_head + r_w_bias, k_head);
  at::Tensor bd = scores(q_head + r_r_bias, k_head_r);
  bd = rel_shift_bnij(bd, ac.size(3));

  const double scale = 1.0 / std::pow(static_cast<double>(d), 0.5);
  at::Tensor score = (ac + bd) * scale;
  score = score - 1e30 * attn_mask.permute({2, 3, 0, 1});  // "ijbn->bnij"
  at::Tensor prob = maybe_dropout(at::softmax(score, 3), options_.dropout, training);
  // "bnij,jbnd->ibnd", then "ibnd,hnd->ibh".
  const at::Tensor attn_vec =
      parallel_matmul(prob, v_head.permute({1, 2, 0, 3})).permute({2, 0, 1, 3});
  const int64_t T = attn_vec.size(0), B = attn_vec.size(1), D = o.size(0);
  at::Tensor attn_out =
      parallel_matmul(attn_vec.reshape({T, B, n * d}), o.reshape({D, n * d}).t());
  attn_out = maybe_dropout(attn_out, options_.dropout, training) + h;
  return layer_norm->forward(attn_out);
}

XLNetFeedForwardImpl::XLNetFeedForwardImpl(const XLNetOptions& options)
    : torch::nn::Module("XLNetFeedForward"), dropout_(options.dropout) {
  layer_norm = register_module(
      "layer_norm", torch::nn::LayerNorm(
                        torch::nn::LayerNormOptions({options.d_model}).eps(options.layer_norm_eps)));
  layer_1 = register_module("layer_1", normal_linear(options.d_model, options.d_inner));
  layer_2 = register_module("layer_2", normal_linear(options.d_inner, options.d_model));
}

at::Tensor XLNetFeedForwardImpl::forward(const at::Tensor& x) {
  const bool training = is_training();
  at::Tensor out = at::gelu(parallel_linear(x, layer_1->weight, layer_1->bias));
  out = maybe_dropout(out, dropout_, training);
  out = parallel_linear(out, layer_2->weight, layer_2->bias);
  out = maybe_dropout(out, dropout_, training);
  return layer_norm->forward(out + x);
}

XLNetLayerImpl::XLNetLayerImpl(const XLNetOptions& options) : torch::nn::Module("XLNetLayer") {
  rel_attn = register_module("rel_attn", XLNetRelativeAttention(options));
  ff = register_module("ff", XLNetFeedForward(options));
}

at::Tensor XLNetLayerImpl::forward(const at::Tensor& h, const at::Tensor& attn_mask,
                                   const at::Tensor& r) {
  return ff->forward(rel_attn->forward(h, attn_mask, r));
}

XLNetModelImpl::XLNetModelImpl(const XLNetOptions& options)
    : torch::nn::Module("XLNetModel"), options_(options) {
  layer0_ = XLNetLayer(options);
  layer = register_module("layer", torch::nn::ModuleList(layer0_));
}

at::Tensor XLNetModelImpl::forward(const at::Tensor& x, const at::Tensor& mask) {
  using torch::indexing::None;
  using torch::indexing::Slice;
  const bool training = is_training();
  const double p = options_.dropout;
  const int64_t B = x.size(0), T = x.size(2);

  // Key j is hidden from query i when j is padding and i != j.
  const at::Tensor key_padded = at::logical_not(mask.view({B, T})).t();  // [T(j), B]
  const at::Tensor not_self =
      at::logical_not(at::eye(T, mask.options().dtype(at::kBool)));     // [T(i), T(j)]
  const at::Tensor attn_mask =
      at::logical_and(key_padded.index({None, Slice(), Slice(), None}),
                      not_self.index({Slice(), Slice(), None, None}))
          .to(x.scalar_type());  // [T,T,B,1]

  const at::Tensor h = maybe_dropout(x.permute({2, 0, 1}).contiguous(), p, training);
  at::Tensor pos_emb = xlnet_relative_positions(T, options_.d_model, x.options());
  pos_emb = maybe_dropout(pos_emb.index({Slice(), None, Slice()}).expand({-1, B, -1}), p, training);

  const at::Tensor out = maybe_dropout(layer0_->forward(h, attn_mask, pos_emb), p, training);
  return out.permute({1, 2, 0});
}

}  // namespace asl::model
