// Each block of the network against an independent computation written here with
// plain loops in double precision: MaskedConv1D, the channel
// LayerNorm, the sinusoid tables, global and local MaskedMHCA, ChannelBlock,
// TransformerBlock (evaluation mode), the XLNet layer, the heads, the points and
// drop path. Modules run in double with random parameters.
#include <gtest/gtest.h>

#include <torch/torch.h>

#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include "core/error.h"
#include "model/attention.h"
#include "model/channel_block.h"
#include "model/heads.h"
#include "model/layers.h"
#include "model/points.h"
#include "model/transformer_block.h"
#include "model/xlnet.h"
#include "network_fixtures.h"

namespace asl::model {
namespace {

using testing::length_mask;
using testing::max_abs_diff;
using Acc3 = at::TensorAccessor<double, 3>;

constexpr double kTol = 1e-10;
constexpr double kInf = std::numeric_limits<double>::infinity();

using testing::randomize;

at::Tensor P(torch::nn::Module& m, const std::string& name) {
  return m.named_parameters()[name].detach();
}

double gelu(double x) { return 0.5 * x * (1.0 + std::erf(x / std::sqrt(2.0))); }

// ---- independent reference computations (double, loops) ----

// Conv1d with zero padding K/2; w [Cout, Cin/groups, K]; b may be undefined.
at::Tensor conv_ref(const at::Tensor& x, const at::Tensor& w, const at::Tensor& b, int64_t stride,
                    int64_t groups) {
  const int64_t B = x.size(0), Cin = x.size(1), T = x.size(2);
  const int64_t Cout = w.size(0), K = w.size(2), pad = K / 2;
  const int64_t To = (T + 2 * pad - K) / stride + 1;
  const int64_t in_per = Cin / groups, out_per = Cout / groups;
  at::Tensor y = torch::zeros({B, Cout, To}, torch::kDouble);
  auto xa = x.accessor<double, 3>();
  auto wa = w.accessor<double, 3>();
  auto ya = y.accessor<double, 3>();
  for (int64_t bb = 0; bb < B; ++bb)
    for (int64_t o = 0; o < Cout; ++o)
      for (int64_t t = 0; t < To; ++t) {
        double s = b.defined() ? b[o].item<double>() : 0.0;
        const int64_t g = o / out_per;
        for (int64_t c = 0; c < in_per; ++c)
          for (int64_t k = 0; k < K; ++k) {
            const int64_t src = t * stride + k - pad;
            if (src >= 0 && src < T) s += wa[o][c][k] * xa[bb][g * in_per + c][src];
          }
        ya[bb][o][t] = s;
      }
  return y;
}

// Multiplies [B,C,T] by a [B,T] 0/1 mask.
at::Tensor apply_mask(const at::Tensor& x, const at::Tensor& m) {
  at::Tensor y = x.clone();
  auto ya = y.accessor<double, 3>();
  for (int64_t b = 0; b < y.size(0); ++b)
    for (int64_t c = 0; c < y.size(1); ++c)
      for (int64_t t = 0; t < y.size(2); ++t)
        if (!m[b][t].item<bool>()) ya[b][c][t] = 0.0;
  return y;
}

// Every stride-th step of a [B,T] mask.
at::Tensor downsample(const at::Tensor& m, int64_t stride) {
  std::vector<at::Tensor> cols;
  for (int64_t t = 0; t < m.size(1); t += stride) cols.push_back(m.select(1, t));
  return torch::stack(cols, 1);
}

// LayerNorm over the channels of [B,C,T] with per-channel weight and bias.
at::Tensor channel_ln_ref(const at::Tensor& x, const at::Tensor& w, const at::Tensor& b,
                          double eps = 1e-5) {
  const int64_t B = x.size(0), C = x.size(1), T = x.size(2);
  at::Tensor y = torch::empty_like(x);
  auto xa = x.accessor<double, 3>();
  auto ya = y.accessor<double, 3>();
  const at::Tensor wf = w.reshape({-1}), bf = b.reshape({-1});
  for (int64_t bb = 0; bb < B; ++bb)
    for (int64_t t = 0; t < T; ++t) {
      double mean = 0, var = 0;
      for (int64_t c = 0; c < C; ++c) mean += xa[bb][c][t];
      mean /= C;
      for (int64_t c = 0; c < C; ++c) var += (xa[bb][c][t] - mean) * (xa[bb][c][t] - mean);
      var /= C;
      for (int64_t c = 0; c < C; ++c)
        ya[bb][c][t] = (xa[bb][c][t] - mean) / std::sqrt(var + eps) * wf[c].item<double>() +
                       bf[c].item<double>();
    }
  return y;
}

// Applies f elementwise.
template <class F>
at::Tensor map(const at::Tensor& x, F f) {
  at::Tensor y = x.contiguous().clone();
  double* d = y.data_ptr<double>();
  for (int64_t i = 0; i < y.numel(); ++i) d[i] = f(d[i]);
  return y;
}

// q, k, v of a MaskedMHCA: depthwise conv (stride s) -> mask -> LN -> 1x1 conv.
struct QKV {
  at::Tensor q, k, v, m;  // [B,C,T'] and the mask [B,T']
};
QKV qkv_ref(torch::nn::Module& attn, const at::Tensor& x, const at::Tensor& mask, int64_t s) {
  const int64_t C = x.size(1);
  QKV r;
  r.m = downsample(mask, s);
  auto branch = [&](const std::string& n) {
    at::Tensor y = apply_mask(conv_ref(x, P(attn, n + "_conv.conv.weight"), {}, s, C), r.m);
    y = channel_ln_ref(y, P(attn, n + "_norm.weight"), P(attn, n + "_norm.bias"));
    return conv_ref(y, P(attn, n + ".weight"), P(attn, n + ".bias"), 1, 1);
  };
  r.q = branch("query");
  r.k = branch("key");
  r.v = branch("value");
  return r;
}

// Attention of MaskedMHCA over q, k, v [B,C,T'], n_head heads. window <= 1: global with
// -inf for padded keys and zeroed padded values; otherwise the dense band |i-j| <= w/2
// with -1e4 for padded keys and zero rows for padded queries.
at::Tensor attention_ref(const QKV& r, int64_t n_head, int64_t window) {
  const int64_t B = r.q.size(0), C = r.q.size(1), T = r.q.size(2), hs = C / n_head;
  const int64_t half = window / 2;
  at::Tensor out = torch::zeros({B, C, T}, torch::kDouble);
  auto q = r.q.accessor<double, 3>();
  auto k = r.k.accessor<double, 3>();
  auto v = r.v.accessor<double, 3>();
  auto o = out.accessor<double, 3>();
  for (int64_t b = 0; b < B; ++b)
    for (int64_t h = 0; h < n_head; ++h)
      for (int64_t i = 0; i < T; ++i) {
        std::vector<double> score(static_cast<std::size_t>(T), -kInf);
        for (int64_t j = 0; j < T; ++j) {
          if (window > 1 && std::abs(i - j) > half) continue;
          double s = 0;
          for (int64_t d = 0; d < hs; ++d) s += q[b][h * hs + d][i] * k[b][h * hs + d][j];
          s /= std::sqrt(static_cast<double>(hs));
          const bool valid = r.m[b][j].item<bool>();
          if (window > 1) {
            score[j] = s + (valid ? 0.0 : -1e4);
          } else {
            score[j] = valid ? s : -kInf;
          }
        }
        double mx = -kInf, z = 0;
        for (double s : score) mx = std::max(mx, s);
        for (double s : score) z += std::exp(s - mx);
        if (window > 1 && !r.m[b][i].item<bool>()) continue;  // zero row
        for (int64_t j = 0; j < T; ++j) {
          const double a = std::exp(score[j] - mx) / z;
          const double keep = window > 1 || r.m[b][j].item<bool>() ? 1.0 : 0.0;
          for (int64_t d = 0; d < hs; ++d) o[b][h * hs + d][i] += a * v[b][h * hs + d][j] * keep;
        }
      }
  return out;
}

at::Tensor mhca_ref(torch::nn::Module& attn, const at::Tensor& x, const at::Tensor& mask,
                    int64_t n_head, int64_t stride, int64_t window) {
  const QKV r = qkv_ref(attn, x, mask, stride);
  const at::Tensor o = attention_ref(r, n_head, window);
  return apply_mask(conv_ref(o, P(attn, "proj.weight"), P(attn, "proj.bias"), 1, 1), r.m);
}

// y = x W^T + b over the last dim of [N, in].
at::Tensor linear_ref(const at::Tensor& x, const at::Tensor& w, const at::Tensor& b) {
  at::Tensor y = torch::zeros({x.size(0), w.size(0)}, torch::kDouble);
  for (int64_t n = 0; n < x.size(0); ++n)
    for (int64_t o = 0; o < w.size(0); ++o) {
      double s = b.defined() ? b[o].item<double>() : 0.0;
      for (int64_t i = 0; i < w.size(1); ++i) s += w[o][i].item<double>() * x[n][i].item<double>();
      y[n][o] = s;
    }
  return y;
}

// LayerNorm over the last dim of [N, D].
at::Tensor row_ln_ref(const at::Tensor& x, const at::Tensor& w, const at::Tensor& b, double eps) {
  return channel_ln_ref(x.t().unsqueeze(0).contiguous(), w, b, eps).squeeze(0).t().contiguous();
}

// ChannelBlock on y [B,C,T], n_head heads: attention among channels summed over every T.
at::Tensor channel_block_ref(torch::nn::Module& cb, const at::Tensor& y, int64_t n_head) {
  const int64_t B = y.size(0), C = y.size(1), T = y.size(2), hd = C / n_head;
  std::vector<at::Tensor> outs;
  for (int64_t b = 0; b < B; ++b) {
    const at::Tensor u = y[b].t().contiguous();  // [T,C]
    const at::Tensor qkv = linear_ref(u, P(cb, "attn.qkv.weight"), {});
    at::Tensor o = torch::zeros({T, C}, torch::kDouble);
    for (int64_t h = 0; h < n_head; ++h) {
      for (int64_t i = 0; i < hd; ++i) {
        std::vector<double> g(static_cast<std::size_t>(hd));
        double mx = -kInf;
        for (int64_t j = 0; j < hd; ++j) {
          double s = 0;
          for (int64_t t = 0; t < T; ++t)
            s += qkv[t][C + h * hd + i].item<double>() * qkv[t][2 * C + h * hd + j].item<double>();
          g[j] = s / std::sqrt(static_cast<double>(hd));
          mx = std::max(mx, g[j]);
        }
        double z = 0;
        for (double& e : g) z += (e = std::exp(e - mx));
        for (int64_t t = 0; t < T; ++t) {
          double s = 0;
          for (int64_t j = 0; j < hd; ++j) s += g[j] / z * qkv[t][h * hd + j].item<double>();
          o[t][h * hd + i] = s;
        }
      }
    }
    at::Tensor u1 = u + linear_ref(o, P(cb, "attn.proj.weight"), P(cb, "attn.proj.bias"));
    at::Tensor hid = row_ln_ref(u1, P(cb, "norm2.weight"), P(cb, "norm2.bias"), 1e-5);
    hid = map(linear_ref(hid, P(cb, "mlp.0.weight"), P(cb, "mlp.0.bias")), gelu);
    const at::Tensor u2 = u1 + linear_ref(hid, P(cb, "mlp.2.weight"), P(cb, "mlp.2.bias"));
    outs.push_back(u2.t());
  }
  return torch::stack(outs, 0);
}

// Max pooling (kernel s+1, stride s, padding (s+1)/2, padding never wins).
at::Tensor maxpool_ref(const at::Tensor& x, int64_t s) {
  const int64_t k = s + 1, pad = (s + 1) / 2, T = x.size(2);
  const int64_t To = (T + 2 * pad - k) / s + 1;
  at::Tensor y = torch::empty({x.size(0), x.size(1), To}, torch::kDouble);
  for (int64_t b = 0; b < x.size(0); ++b)
    for (int64_t c = 0; c < x.size(1); ++c)
      for (int64_t t = 0; t < To; ++t) {
        double mx = -kInf;
        for (int64_t j = t * s - pad; j < t * s - pad + k; ++j)
          if (j >= 0 && j < T) mx = std::max(mx, x[b][c][j].item<double>());
        y[b][c][t] = mx;
      }
  return y;
}

at::Tensor transformer_block_ref(torch::nn::Module& blk, const at::Tensor& x,
                                 const at::Tensor& mask, const TransformerBlockOptions& o) {
  const at::Tensor y = channel_ln_ref(x, P(blk, "ln1.weight"), P(blk, "ln1.bias"));
  const at::Tensor ms = downsample(mask, o.stride);
  const at::Tensor a = mhca_ref(*blk.named_children()["attn"], y, mask, o.n_head, o.stride,
                                o.window_size);
  const at::Tensor skip = o.stride > 1 ? maxpool_ref(x, o.stride) : x;
  at::Tensor z = apply_mask(skip, ms) + P(blk, "drop_path_attn.scale") * a;
  at::Tensor hid = channel_ln_ref(z, P(blk, "ln2.weight"), P(blk, "ln2.bias"));
  hid = map(conv_ref(hid, P(blk, "mlp.0.weight"), P(blk, "mlp.0.bias"), 1, 1), gelu);
  hid = apply_mask(conv_ref(hid, P(blk, "mlp.3.weight"), P(blk, "mlp.3.bias"), 1, 1), ms);
  z = z + P(blk, "drop_path_mlp.scale") * hid;
  if (o.stride == 1) {
    z = o.t_c_alpha * z +
        (1 - o.t_c_alpha) * channel_block_ref(*blk.named_children()["channel_attn"], y, o.n_head);
  }
  return z;
}

// ---- tests ----

TEST(MaskedConv1D, MatchesLoopsAndMasksWithEveryStrideThStep) {
  for (int64_t stride : {1, 2}) {
    for (int64_t groups : {1, 4}) {
      SCOPED_TRACE("stride " + std::to_string(stride) + " groups " + std::to_string(groups));
      MaskedConv1D conv(8, 4, 3, stride, groups, /*bias=*/true);
      randomize(*conv, 1);
      const at::Tensor x = torch::randn({2, 8, 10}, torch::kDouble);
      const at::Tensor mask = length_mask({10, 7}, 10);
      const Masked out = conv->forward(x, mask);
      const at::Tensor ms = downsample(mask.squeeze(1), stride);
      EXPECT_TRUE(torch::equal(out.mask.squeeze(1), ms));
      const at::Tensor expected =
          apply_mask(conv_ref(x, P(*conv, "conv.weight"), P(*conv, "conv.bias"), stride, groups), ms);
      EXPECT_LT(max_abs_diff(out.x, expected), kTol);
    }
  }
}

TEST(MaskedConv1D, BiasStartsAtZeroAndStrideMustDivideTheLength) {
  MaskedConv1D conv(3, 5, 3, 2);
  EXPECT_EQ(conv->conv->bias.abs().sum().item<double>(), 0.0);
  EXPECT_THROW(conv->forward(torch::randn({1, 3, 7}), length_mask({7}, 7)), Error);
  EXPECT_THROW(MaskedConv1D(3, 5, 4), Error);
}

TEST(ChannelLayerNorm, NormalisesEachStepOverChannels) {
  ChannelLayerNorm ln(6);
  EXPECT_TRUE(torch::equal(ln->weight, torch::ones({1, 6, 1})));
  EXPECT_TRUE(torch::equal(ln->bias, torch::zeros({1, 6, 1})));
  randomize(*ln, 2);
  const at::Tensor x = torch::randn({2, 6, 5}, torch::kDouble) * 3 + 1;
  EXPECT_LT(max_abs_diff(ln->forward(x), channel_ln_ref(x, ln->weight, ln->bias)), kTol);
}

TEST(Sinusoid, AbsoluteTableIsSinForEvenAndCosForOddChannels) {
  const at::Tensor pe = sinusoid_encoding(7, 6);
  ASSERT_EQ(pe.sizes(), (std::vector<int64_t>{1, 6, 7}));
  EXPECT_EQ(pe.scalar_type(), torch::kFloat);
  for (int64_t c = 0; c < 6; ++c)
    for (int64_t t = 0; t < 7; ++t) {
      const double angle = t / std::pow(10000.0, 2.0 * (c / 2) / 6.0);
      const double expected = c % 2 == 0 ? std::sin(angle) : std::cos(angle);
      EXPECT_EQ(pe[0][c][t].item<float>(), static_cast<float>(expected)) << c << "," << t;
    }
}

TEST(Sinusoid, XLNetTableCoversDistancesTDownToMinusTPlusOne) {
  const int64_t T = 3, D = 4;
  const at::Tensor r = xlnet_relative_positions(T, D, torch::kDouble);
  ASSERT_EQ(r.sizes(), (std::vector<int64_t>{2 * T, D}));
  for (int64_t k = 0; k < 2 * T; ++k) {
    const double pos = static_cast<double>(T - k);
    for (int64_t c = 0; c < D / 2; ++c) {
      const double inv = std::pow(10000.0, -2.0 * c / D);
      EXPECT_NEAR(r[k][c].item<double>(), std::sin(pos * inv), 1e-15);
      EXPECT_NEAR(r[k][c + D / 2].item<double>(), std::cos(pos * inv), 1e-15);
    }
  }
}

TEST(MaskedMHCA, GlobalAttentionMatchesLoops) {
  for (int64_t stride : {1, 2}) {
    SCOPED_TRACE("stride " + std::to_string(stride));
    AttentionOptions o;
    o.n_embd = 8;
    o.n_head = 2;
    o.stride = stride;
    MaskedMHCA attn(o);
    randomize(*attn, 3);
    attn->eval();
    const at::Tensor x = torch::randn({2, 8, 12}, torch::kDouble);
    const at::Tensor mask = length_mask({12, 7}, 12);
    const Masked out = attn->forward(x, mask);
    const at::Tensor expected = mhca_ref(*attn, x, mask.squeeze(1), 2, stride, -1);
    EXPECT_LT(max_abs_diff(out.x, expected), kTol);
    EXPECT_TRUE(torch::equal(out.mask.squeeze(1), downsample(mask.squeeze(1), stride)));
  }
}

TEST(MaskedMHCA, LocalAttentionMatchesADenseMaskedBand) {
  for (int64_t stride : {1, 2}) {
    for (int64_t window : {3, 5}) {
      SCOPED_TRACE("stride " + std::to_string(stride) + " window " + std::to_string(window));
      AttentionOptions o;
      o.n_embd = 8;
      o.n_head = 2;
      o.stride = stride;
      o.window_size = window;
      MaskedMHCA attn(o);
      randomize(*attn, 4);
      attn->eval();
      const at::Tensor x = torch::randn({2, 8, 16}, torch::kDouble);
      const at::Tensor mask = length_mask({16, 9}, 16);
      const at::Tensor expected = mhca_ref(*attn, x, mask.squeeze(1), 2, stride, window);
      EXPECT_LT(max_abs_diff(attn->forward(x, mask).x, expected), kTol);
    }
  }
}

TEST(ChannelBlock, MatchesLoopsOverAllStepsWithoutMask) {
  ChannelBlock cb(8, 2, /*drop_path=*/0.1);
  randomize(*cb, 5);
  cb->eval();
  const at::Tensor y = torch::randn({2, 8, 6}, torch::kDouble);
  EXPECT_LT(max_abs_diff(cb->forward(y), channel_block_ref(*cb, y, 2)), kTol);
  // No parameter named norm1: the reference never calls it.
  for (const auto& p : cb->named_parameters()) EXPECT_EQ(p.key().find("norm1"), std::string::npos);
}

TEST(TransformerBlock, EvaluationMatchesLoops) {
  for (int64_t stride : {1, 2}) {
    for (int64_t window : {-1, 3}) {
      SCOPED_TRACE("stride " + std::to_string(stride) + " window " + std::to_string(window));
      TransformerBlockOptions o;
      o.n_embd = 8;
      o.n_head = 2;
      o.stride = stride;
      o.window_size = window;
      o.proj_pdrop = 0.1;
      o.path_pdrop = 0.1;
      o.t_c_alpha = 0.8;
      TransformerBlock blk(o);
      EXPECT_EQ(static_cast<bool>(blk->channel_attn), stride == 1);
      randomize(*blk, 6);
      blk->eval();
      const at::Tensor x = torch::randn({2, 8, 12}, torch::kDouble);
      const at::Tensor mask = length_mask({12, 7}, 12);
      const Masked out = blk->forward(x, mask);
      EXPECT_LT(max_abs_diff(out.x, transformer_block_ref(*blk, x, mask.squeeze(1), o)), kTol);
    }
  }
}

TEST(TransformerBlock, DropPathScalesStartAt1eMinus4AndVanishWithoutDropPath) {
  TransformerBlockOptions o;
  o.n_embd = 4;
  o.n_head = 1;
  o.path_pdrop = 0.1;
  TransformerBlock with(o);
  EXPECT_TRUE(torch::allclose(with->drop_path_attn->scale, torch::full({1, 4, 1}, 1e-4)));
  EXPECT_TRUE(torch::allclose(with->drop_path_mlp->scale, torch::full({1, 4, 1}, 1e-4)));
  o.path_pdrop = 0.0;
  TransformerBlock without(o);
  for (const auto& p : without->named_parameters()) {
    EXPECT_EQ(p.key().find("drop_path"), std::string::npos) << p.key();
  }
}

TEST(DropPath, KeepsOrDropsWholeSamplesInTrainingOnly) {
  const at::Tensor x = torch::ones({400, 3, 2}, torch::kDouble);
  EXPECT_TRUE(torch::equal(drop_path(x, 0.25, /*training=*/false), x));
  torch::manual_seed(7);
  const at::Tensor y = drop_path(x, 0.25, /*training=*/true);
  int64_t kept = 0;
  for (int64_t b = 0; b < 400; ++b) {
    const at::Tensor s = y[b];
    const bool dropped = torch::equal(s, torch::zeros_like(s));
    EXPECT_TRUE(dropped || torch::allclose(s, torch::full_like(s, 1.0 / 0.75)));
    kept += dropped ? 0 : 1;
  }
  EXPECT_GT(kept, 250);
  EXPECT_LT(kept, 350);
}

// XLNet's relative attention in loops, on a tiny case: distances through K_r[T - i + j].
at::Tensor xlnet_ref(torch::nn::Module& layer, const at::Tensor& x, const at::Tensor& mask,
                     const XLNetOptions& o) {
  const int64_t B = x.size(0), D = x.size(1), T = x.size(2), n = o.n_head, d = o.d_head;
  const at::Tensor q = P(layer, "rel_attn.q"), k = P(layer, "rel_attn.k"),
                   v = P(layer, "rel_attn.v"), wo = P(layer, "rel_attn.o"),
                   wr = P(layer, "rel_attn.r"), rw = P(layer, "rel_attn.r_w_bias"),
                   rr = P(layer, "rel_attn.r_r_bias");
  // R[k] for k = 0..2T-1 encodes the distance T - k.
  at::Tensor R = torch::empty({2 * T, D}, torch::kDouble);
  for (int64_t kk = 0; kk < 2 * T; ++kk)
    for (int64_t c = 0; c < D / 2; ++c) {
      const double angle = (T - kk) * std::pow(10000.0, -2.0 * c / D);
      R[kk][c] = std::sin(angle);
      R[kk][c + D / 2] = std::cos(angle);
    }
  at::Tensor out = torch::empty({B, D, T}, torch::kDouble);
  for (int64_t b = 0; b < B; ++b) {
    const at::Tensor h = x[b].t().contiguous();  // [T, D]
    at::Tensor attn_out = torch::zeros({T, D}, torch::kDouble);
    for (int64_t hd = 0; hd < n; ++hd) {
      const at::Tensor Wq = q.select(1, hd), Wk = k.select(1, hd), Wv = v.select(1, hd),
                       Wr = wr.select(1, hd), Wo = wo.select(1, hd);  // [D, d]
      const at::Tensor Q = linear_ref(h, Wq.t(), {}), K = linear_ref(h, Wk.t(), {}),
                       V = linear_ref(h, Wv.t(), {}), Kr = linear_ref(R, Wr.t(), {});
      for (int64_t i = 0; i < T; ++i) {
        std::vector<double> s(static_cast<std::size_t>(T));
        double mx = -kInf;
        for (int64_t j = 0; j < T; ++j) {
          double ac = 0, bd = 0;
          for (int64_t e = 0; e < d; ++e) {
            ac += (Q[i][e].item<double>() + rw[hd][e].item<double>()) * K[j][e].item<double>();
            bd += (Q[i][e].item<double>() + rr[hd][e].item<double>()) *
                  Kr[T - i + j][e].item<double>();
          }
          const bool hidden = !mask[b][j].item<bool>() && i != j;
          s[j] = (ac + bd) / std::sqrt(static_cast<double>(d)) - (hidden ? 1e30 : 0.0);
          mx = std::max(mx, s[j]);
        }
        double z = 0;
        for (double& e : s) z += (e = std::exp(e - mx));
        for (int64_t e = 0; e < d; ++e) {
          double vec = 0;
          for (int64_t j = 0; j < T; ++j) vec += s[j] / z * V[j][e].item<double>();
          for (int64_t c = 0; c < D; ++c) attn_out[i][c] += vec * Wo[c][e].item<double>();
        }
      }
    }
    const at::Tensor a = row_ln_ref(attn_out + h, P(layer, "rel_attn.layer_norm.weight"),
                                    P(layer, "rel_attn.layer_norm.bias"), o.layer_norm_eps);
    at::Tensor f = map(linear_ref(a, P(layer, "ff.layer_1.weight"), P(layer, "ff.layer_1.bias")), gelu);
    f = linear_ref(f, P(layer, "ff.layer_2.weight"), P(layer, "ff.layer_2.bias")) + a;
    f = row_ln_ref(f, P(layer, "ff.layer_norm.weight"), P(layer, "ff.layer_norm.bias"),
                   o.layer_norm_eps);
    out[b] = f.t();
  }
  return out;
}

TEST(XLNet, RelativeAttentionLayerMatchesLoopsOnATinyCase) {
  XLNetOptions o;
  o.d_model = 8;
  o.n_head = 2;
  o.d_head = 4;
  o.d_inner = 12;
  o.layer_norm_eps = 1e-12;
  XLNetModel xl(o);
  randomize(*xl, 8);
  xl->eval();
  const at::Tensor x = torch::randn({2, 8, 5}, torch::kDouble);
  const at::Tensor mask = length_mask({5, 3}, 5);
  const at::Tensor expected = xlnet_ref(*xl->layer[0], x, mask.squeeze(1), o);
  EXPECT_LT(max_abs_diff(xl->forward(x, mask), expected), 1e-9);
}

TEST(XLNet, InitialisesLikeTheReference) {
  XLNetOptions o;
  o.d_model = 64;
  o.n_head = 4;
  o.d_head = 16;
  o.d_inner = 128;
  torch::manual_seed(9);
  XLNetModel xl(o);
  auto params = xl->named_parameters();
  const at::Tensor q = params["layer.0.rel_attn.q"];
  EXPECT_NEAR(q.std().item<double>(), 0.02, 0.002);
  EXPECT_NEAR(params["layer.0.ff.layer_1.weight"].std().item<double>(), 0.02, 0.002);
  EXPECT_EQ(params["layer.0.ff.layer_1.bias"].abs().sum().item<double>(), 0.0);
  EXPECT_TRUE(torch::equal(params["layer.0.ff.layer_norm.weight"], torch::ones({64})));
  EXPECT_EQ(params.size(), 15u);  // q k v o r r_r_bias r_w_bias, 2 LayerNorms, 2 Linears
}

TEST(Heads, ClassificationAndRegressionMatchLoops) {
  HeadOptions o;
  o.input_dim = 6;
  o.feat_dim = 5;
  o.num_layers = 3;
  o.kernel_size = 3;
  o.with_ln = true;
  ClsHead cls(o, 4, 0.01, std::vector<int64_t>{2});
  // Prior: sigmoid(bias) = 0.01; an empty class gets the 1e-6 prior.
  EXPECT_NEAR(cls->cls_head->conv->bias[0].item<double>(), -std::log(0.99 / 0.01), 1e-6);
  EXPECT_NEAR(cls->cls_head->conv->bias[2].item<double>(), -std::log((1 - 1e-6) / 1e-6), 1e-4);
  RegHead reg(o, 2);
  for (const auto& p : reg->named_parameters()) {
    if (p.key().find("scale") != std::string::npos) {
      EXPECT_EQ(p.value().item<double>(), 1.0);
    }
  }
  randomize(*cls, 10);
  randomize(*reg, 11);
  const std::vector<Masked> levels = {
      {torch::randn({2, 6, 8}, torch::kDouble), length_mask({8, 5}, 8)},
      {torch::randn({2, 6, 4}, torch::kDouble), length_mask({4, 3}, 4)}};
  const auto logits = cls->forward(levels);
  const auto offsets = reg->forward(levels);
  for (std::size_t l = 0; l < levels.size(); ++l) {
    const at::Tensor m = levels[l].mask.squeeze(1);
    auto trunk = [&](torch::nn::Module& h) {
      at::Tensor y = levels[l].x;
      for (int i = 0; i < 2; ++i) {
        const std::string s = std::to_string(i);
        y = apply_mask(conv_ref(y, P(h, "head." + s + ".conv.weight"), {}, 1, 1), m);
        y = map(channel_ln_ref(y, P(h, "norm." + s + ".weight"), P(h, "norm." + s + ".bias")),
                [](double v) { return std::max(v, 0.0); });
      }
      return y;
    };
    const at::Tensor expected_logits = apply_mask(
        conv_ref(trunk(*cls), P(*cls, "cls_head.conv.weight"), P(*cls, "cls_head.conv.bias"), 1, 1), m);
    EXPECT_LT(max_abs_diff(logits[l], expected_logits), kTol);
    const double scale = P(*reg, "scale." + std::to_string(l) + ".scale").item<double>();
    const at::Tensor expected_offsets = map(
        apply_mask(conv_ref(trunk(*reg), P(*reg, "offset_head.conv.weight"),
                            P(*reg, "offset_head.conv.bias"), 1, 1), m),
        [scale](double v) { return std::max(scale * v, 0.0); });
    EXPECT_LT(max_abs_diff(offsets[l], expected_offsets), kTol);
  }
}

TEST(Points, HandWorkedThreeLevels) {
  config::ModelConfig cfg;
  cfg.backbone_arch = {2, 1, 2};
  cfg.scale_factor = 2;
  cfg.regression_range = {{0, 4}, {2, 8}, {4, 10000}};
  cfg.max_seq_len = 16;
  cfg.max_buffer_len_factor = 1.5;
  const PointGenerator gen(cfg);
  const auto pts = gen.points({16, 8, 4}, torch::kFloat);
  ASSERT_EQ(pts.size(), 3u);
  const at::Tensor level1 = torch::tensor({0.f, 2.f, 8.f, 2.f, 2.f, 2.f, 8.f, 2.f, 4.f, 2.f, 8.f, 2.f,
                                           6.f, 2.f, 8.f, 2.f, 8.f, 2.f, 8.f, 2.f, 10.f, 2.f, 8.f, 2.f,
                                           12.f, 2.f, 8.f, 2.f, 14.f, 2.f, 8.f, 2.f})
                                  .view({8, 4});
  EXPECT_TRUE(torch::equal(pts[1], level1));
  const at::Tensor level2 = torch::tensor({0.f, 4.f, 10000.f, 4.f, 4.f, 4.f, 10000.f, 4.f, 8.f, 4.f,
                                           10000.f, 4.f, 12.f, 4.f, 10000.f, 4.f})
                                  .view({4, 4});
  EXPECT_TRUE(torch::equal(pts[2], level2));
  EXPECT_TRUE(torch::equal(pts[0].select(1, 0), torch::arange(16, torch::kFloat)));
  // 16 * 1.5 = 24 buffered steps: level 2 holds ceil(24 / 4) = 6 points.
  EXPECT_NO_THROW(gen.level_points(2, 6, torch::kFloat));
  try {
    gen.level_points(2, 7, torch::kFloat);
    ADD_FAILURE() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("max_buffer_len_factor"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace asl::model
