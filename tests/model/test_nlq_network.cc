// The NLQ network's own parts (docs/nlq.md) against independent computations: the
// cross-attention block and FiLM written here with plain loops in double precision, gradients
// against central differences, and the properties the design relies on (padded tokens and
// padded steps change nothing, token order does not matter, the query moves the
// classification, FiLM starts as the identity).
#include <gtest/gtest.h>

#include <torch/torch.h>

#include <cmath>
#include <string>
#include <vector>

#include "core/config.h"
#include "core/error.h"
#include "model/asl_model.h"
#include "model/fusion.h"
#include "network_fixtures.h"

namespace asl::model {
namespace {

using testing::length_mask;
using testing::max_abs_diff;

constexpr double kTol = 1e-10;

using testing::randomize;

at::Tensor P(torch::nn::Module& m, const std::string& name) {
  return m.named_parameters()[name].detach();
}

// Z + m * W_o [softmax over valid tokens ((W_q LN(Z))_h . (W_k E)_h / sqrt(hs)) (W_v E)_h],
// one step, head and token at a time.
at::Tensor cross_attention_ref(torch::nn::Module& block, const at::Tensor& x,
                               const at::Tensor& mask, const at::Tensor& text,
                               const at::Tensor& text_mask, int64_t heads) {
  const int64_t B = x.size(0), C = x.size(1), T = x.size(2), L = text.size(2), hs = C / heads;
  auto X = x.accessor<double, 3>();
  auto E = text.accessor<double, 3>();
  const at::Tensor lw = P(block, "ln.weight").view({C}), lb = P(block, "ln.bias").view({C});
  auto conv = [&](const std::string& n) {
    return std::make_pair(P(block, n + ".weight").view({C, C}), P(block, n + ".bias"));
  };
  const auto [wq, bq] = conv("query");
  const auto [wk, bk] = conv("key");
  const auto [wv, bv] = conv("value");
  const auto [wo, bo] = conv("proj");
  at::Tensor out = x.clone();
  auto O = out.accessor<double, 3>();
  for (int64_t b = 0; b < B; ++b) {
    // keys and values of every token
    std::vector<std::vector<double>> k(L, std::vector<double>(C)), v(L, std::vector<double>(C));
    for (int64_t l = 0; l < L; ++l)
      for (int64_t o = 0; o < C; ++o) {
        double sk = bk[o].item<double>(), sv = bv[o].item<double>();
        for (int64_t i = 0; i < C; ++i) {
          sk += wk[o][i].item<double>() * E[b][i][l];
          sv += wv[o][i].item<double>() * E[b][i][l];
        }
        k[l][o] = sk;
        v[l][o] = sv;
      }
    for (int64_t t = 0; t < T; ++t) {
      if (!mask[b][0][t].item<bool>()) continue;  // padded steps stay as they were
      double mean = 0, var = 0;
      for (int64_t c = 0; c < C; ++c) mean += X[b][c][t];
      mean /= C;
      for (int64_t c = 0; c < C; ++c) var += (X[b][c][t] - mean) * (X[b][c][t] - mean);
      var /= C;
      std::vector<double> y(C), q(C), att(C, 0.0);
      for (int64_t c = 0; c < C; ++c)
        y[c] = (X[b][c][t] - mean) / std::sqrt(var + 1e-5) * lw[c].item<double>() + lb[c].item<double>();
      for (int64_t o = 0; o < C; ++o) {
        q[o] = bq[o].item<double>();
        for (int64_t i = 0; i < C; ++i) q[o] += wq[o][i].item<double>() * y[i];
      }
      for (int64_t h = 0; h < heads; ++h) {
        std::vector<double> s(L);
        double top = -1e300, z = 0;
        for (int64_t l = 0; l < L; ++l) {
          if (!text_mask[b][0][l].item<bool>()) continue;
          s[l] = 0;
          for (int64_t d = 0; d < hs; ++d) s[l] += q[h * hs + d] * k[l][h * hs + d];
          s[l] /= std::sqrt(static_cast<double>(hs));
          top = std::max(top, s[l]);
        }
        for (int64_t l = 0; l < L; ++l)
          if (text_mask[b][0][l].item<bool>()) z += std::exp(s[l] - top);
        for (int64_t l = 0; l < L; ++l) {
          if (!text_mask[b][0][l].item<bool>()) continue;
          const double a = std::exp(s[l] - top) / z;
          for (int64_t d = 0; d < hs; ++d) att[h * hs + d] += a * v[l][h * hs + d];
        }
      }
      for (int64_t o = 0; o < C; ++o) {
        double r = bo[o].item<double>();
        for (int64_t i = 0; i < C; ++i) r += wo[o][i].item<double>() * att[i];
        O[b][o][t] += r;
      }
    }
  }
  return out;
}

struct Inputs {
  at::Tensor x, mask, text, text_mask;
};

Inputs inputs(int64_t C) {
  torch::manual_seed(3);
  Inputs in;
  in.x = torch::randn({2, C, 6}, torch::kDouble);
  in.mask = length_mask({6, 4}, 6);
  in.text = torch::randn({2, C, 5}, torch::kDouble);
  in.text_mask = length_mask({5, 2}, 5);
  in.text = in.text * in.text_mask.to(torch::kDouble);
  return in;
}

TEST(CrossAttention, MatchesTheLoopComputationInDouble) {
  CrossAttentionBlock block(8, 2, 0.0, 0.0);
  randomize(*block, 11);
  block->eval();
  const Inputs in = inputs(8);
  const at::Tensor got = block->forward(in.x, in.mask, {in.text, in.text_mask});
  const at::Tensor want = cross_attention_ref(*block, in.x, in.mask, in.text, in.text_mask, 2);
  EXPECT_LT(max_abs_diff(got, want), kTol);
  // Padded steps are exactly what came in.
  EXPECT_TRUE(torch::equal(got[1].narrow(1, 4, 2), in.x[1].narrow(1, 4, 2)));
}

TEST(CrossAttention, PaddedTokensAndTokenOrderChangeNothing) {
  CrossAttentionBlock block(8, 4, 0.0, 0.0);
  randomize(*block, 12);
  block->eval();
  Inputs in = inputs(8);
  const at::Tensor base = block->forward(in.x, in.mask, {in.text, in.text_mask});
  // Whatever sits at sample 1's padded tokens is not read.
  at::Tensor noisy = in.text.clone();
  noisy[1].narrow(1, 2, 3).normal_();
  EXPECT_LT(max_abs_diff(block->forward(in.x, in.mask, {noisy, in.text_mask}), base), kTol);
  // No position in the query: reversing sample 0's tokens gives the same output.
  at::Tensor reversed = in.text.clone();
  reversed[0] = in.text[0].flip({1});
  EXPECT_LT(max_abs_diff(block->forward(in.x, in.mask, {reversed, in.text_mask}), base), kTol);
  // A different query does change it.
  at::Tensor other = in.text.clone();
  other[0].normal_();
  EXPECT_GT(max_abs_diff(block->forward(in.x, in.mask, {other, in.text_mask}), base), 1e-3);
}

// d(sum(out * R))/d(parameter) against central differences, for every parameter tensor.
TEST(CrossAttention, GradientsMatchFiniteDifferences) {
  CrossAttentionBlock block(4, 2, 0.0, 0.0);
  randomize(*block, 13);
  block->eval();
  const Inputs in = inputs(4);
  torch::manual_seed(4);
  const at::Tensor R = torch::randn({2, 4, 6}, torch::kDouble);
  auto loss = [&] { return (block->forward(in.x, in.mask, {in.text, in.text_mask}) * R).sum(); };
  block->zero_grad();
  loss().backward();
  for (auto& p : block->named_parameters()) {
    const at::Tensor grad = p.value().grad().clone();
    at::Tensor flat = p.value().detach().view({-1});
    for (int64_t i = 0; i < flat.numel(); i += std::max<int64_t>(1, flat.numel() / 5)) {
      torch::NoGradGuard no_grad;
      const double h = 1e-6, keep = flat[i].item<double>();
      flat[i] = keep + h;
      const double up = loss().item<double>();
      flat[i] = keep - h;
      const double down = loss().item<double>();
      flat[i] = keep;
      EXPECT_NEAR(grad.view({-1})[i].item<double>(), (up - down) / (2 * h), 1e-6)
          << p.key() << "[" << i << "]";
    }
  }
}

TEST(CrossAttention, RefusesWidthsThatDoNotSplitIntoHeads) {
  EXPECT_THROW(CrossAttentionBlock(10, 4, 0.0, 0.0), Error);
}

TEST(Film, StartsAsTheIdentityAndFollowsItsFormula) {
  Film film(3, 4);
  film->to(torch::kDouble);
  torch::manual_seed(5);
  const at::Tensor h = torch::randn({2, 4, 6}, torch::kDouble);
  const at::Tensor m = length_mask({6, 3}, 6);
  const at::Tensor s = torch::randn({2, 3}, torch::kDouble);
  const at::Tensor masked = h * m.to(torch::kDouble);
  EXPECT_TRUE(torch::equal(film->forward({{h, m}}, s)[0].x, masked));  // zero start
  {
    torch::NoGradGuard no_grad;
    film->weight.uniform_(-1, 1);
    film->bias.uniform_(-1, 1);
  }
  const at::Tensor got = film->forward({{h, m}}, s)[0].x;
  auto W = film->weight.detach(), b = film->bias.detach();
  for (int64_t n = 0; n < 2; ++n)
    for (int64_t c = 0; c < 4; ++c) {
      double gamma = b[c].item<double>(), beta = b[4 + c].item<double>();
      for (int64_t j = 0; j < 3; ++j) {
        gamma += W[c][j].item<double>() * s[n][j].item<double>();
        beta += W[4 + c][j].item<double>() * s[n][j].item<double>();
      }
      for (int64_t t = 0; t < 6; ++t) {
        const double want = m[n][0][t].item<bool>() ? h[n][c][t].item<double>() * (1 + gamma) + beta : 0.0;
        EXPECT_NEAR(got[n][c][t].item<double>(), want, kTol);
      }
    }
}

TEST(SentenceVector, IsTheMeanOfTheValidTokens) {
  const at::Tensor x = torch::tensor({1.0, 2.0, 3.0, 100.0}, torch::kDouble).view({1, 1, 4});
  const at::Tensor m = length_mask({3}, 4);
  EXPECT_DOUBLE_EQ(sentence_vector({x * m.to(torch::kDouble), m}).item<double>(), 2.0);
}

// The whole network: the query reaches the classification and the regression, the MQ
// network takes none, and the NLQ parameters carry their documented names.
TEST(NlqNetwork, TheQueryMovesTheOutputsAndNamesAreDocumented) {
  const config::Config cfg = testing::load("nlq_demo.yaml");
  torch::manual_seed(0);
  PtTransformer net(cfg);
  net->eval();
  const int64_t T = 64;
  torch::manual_seed(6);
  const at::Tensor feats = torch::randn({1, 96, T});
  const at::Tensor mask = length_mask({T}, T);
  const at::Tensor q1 = torch::randn({1, 64, 5}), q2 = torch::randn({1, 64, 5});
  const at::Tensor qm = length_mask({5}, 5);
  {
    torch::NoGradGuard no_grad;
    net->cls_film->weight.uniform_(-0.1, 0.1);  // out of its zero start
  }
  const NetworkOutputs a = net->forward(feats, mask, q1, qm);
  const NetworkOutputs b = net->forward(feats, mask, q2, qm);
  EXPECT_GT(max_abs_diff(a.cls_logits[0], b.cls_logits[0]), 1e-4);
  EXPECT_GT(max_abs_diff(a.offsets[0], b.offsets[0]), 1e-6);
  EXPECT_EQ(a.cls_logits[0].size(2), 1);
  EXPECT_THROW(net->forward(feats, mask), Error);  // no query: a clear error

  const auto params = net->named_parameters();
  for (const char* name : {"text_proj.conv.weight", "text_norm.weight", "cls_film.weight",
                           "cls_film.bias", "backbone.fusion.0.query.weight",
                           "backbone.fusion.5.proj.bias", "backbone.fusion.0.ln.weight"}) {
    EXPECT_TRUE(params.contains(name)) << name;
  }
  EXPECT_FALSE(params.contains("backbone.fusion.6.query.weight"));  // 5 branch blocks + stem
  const config::Config mq = testing::load("demo.yaml");
  PtTransformer plain(mq);
  for (const auto& p : plain->named_parameters()) {
    EXPECT_EQ(p.key().find("fusion"), std::string::npos) << p.key();
    EXPECT_EQ(p.key().find("text_"), std::string::npos) << p.key();
  }
}

}  // namespace
}  // namespace asl::model
