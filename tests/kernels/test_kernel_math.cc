// The kernels' bodies (kernels/*_math.h), run on the CPU: against the model's LibTorch
// formulations and autograd, and in double precision against finite differences.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>
#include <random>
#include <vector>

#include "kernels/launch.h"
#include "kernels/loss_math.h"
#include "model/attention.h"
#include "model/losses.h"

namespace asl::kernels {
namespace {

// Soft targets as the model makes them: mostly 0, some 1, some in between.
torch::Tensor soft_targets(int64_t n, uint64_t seed) {
  torch::manual_seed(seed);
  torch::Tensor y = torch::rand({n});
  y = torch::where(y < 0.6, torch::zeros_like(y), y);
  y = torch::where(y > 0.9, torch::ones_like(y), y);
  return y;
}

TEST(FocalBody, MatchesTheLibTorchLossAndItsAutogradGradient) {
  torch::manual_seed(1);
  const int64_t n = 4096;
  const torch::Tensor z = (torch::rand({n}) * 16 - 8).requires_grad_(true);
  const torch::Tensor y = soft_targets(n, 2);
  for (const double alpha : {0.25, -1.0}) {
    const torch::Tensor expected = model::sigmoid_focal_loss(z, y, alpha, 2.0);
    const torch::Tensor expected_grad = torch::autograd::grad({expected.sum()}, {z})[0];
    std::vector<float> loss(n), grad(n);
    const torch::Tensor zd = z.detach().contiguous();
    cpu::focal_loss(zd.data_ptr<float>(), y.data_ptr<float>(), n, static_cast<float>(alpha), 2.f,
                    loss.data(), grad.data());
    const torch::Tensor got = torch::from_blob(loss.data(), {n});
    const torch::Tensor got_grad = torch::from_blob(grad.data(), {n});
    EXPECT_TRUE(torch::allclose(got, expected.detach(), 1e-5, 1e-6)) << "alpha " << alpha;
    EXPECT_TRUE(torch::allclose(got_grad, expected_grad, 1e-4, 1e-6)) << "alpha " << alpha;
  }
}

TEST(FocalBody, GradientMatchesCentralDifferencesInDouble) {
  std::mt19937_64 rng(3);
  std::uniform_real_distribution<double> logit(-6, 6), target(0, 1);
  for (int i = 0; i < 500; ++i) {
    const double z = logit(rng), y = i % 3 == 0 ? 0.0 : target(rng), h = 1e-6;
    for (const double gamma : {2.0, 1.5, 0.0}) {
      const double fd = (focal_terms(z + h, y, 0.25, gamma).loss -
                         focal_terms(z - h, y, 0.25, gamma).loss) / (2 * h);
      EXPECT_NEAR(focal_terms(z, y, 0.25, gamma).grad, fd, 1e-7) << z << " " << y;
    }
  }
}

// Rows with ties between prediction and target, where min/max split the gradient.
torch::Tensor offsets(int64_t n, uint64_t seed) {
  torch::manual_seed(seed);
  return torch::rand({n, 2}) * 10 + 0.05;
}

TEST(DiouBody, MatchesTheLibTorchLossAndItsAutogradGradientTiesIncluded) {
  const int64_t n = 2048;
  torch::Tensor target = offsets(n, 5);
  torch::Tensor pred = offsets(n, 6);
  pred.index_put_({torch::indexing::Slice(0, 100), 0}, target.index({torch::indexing::Slice(0, 100), 0}));
  pred.index_put_({torch::indexing::Slice(50, 150), 1}, target.index({torch::indexing::Slice(50, 150), 1}));
  pred.requires_grad_(true);
  const torch::Tensor expected = model::ctr_diou_loss_1d(pred, target);
  const torch::Tensor expected_grad = torch::autograd::grad({expected.sum()}, {pred})[0];
  std::vector<float> loss(n), grad(2 * n);
  const torch::Tensor pd = pred.detach().contiguous();
  cpu::diou_loss(pd.data_ptr<float>(), target.data_ptr<float>(), n, 1e-8f, loss.data(),
                 grad.data());
  EXPECT_TRUE(torch::allclose(torch::from_blob(loss.data(), {n}), expected.detach(), 1e-5, 1e-6));
  EXPECT_TRUE(
      torch::allclose(torch::from_blob(grad.data(), {n, 2}), expected_grad, 1e-4, 1e-6));
}

TEST(DiouBody, GradientMatchesCentralDifferencesInDouble) {
  std::mt19937_64 rng(7);
  std::uniform_real_distribution<double> off(0.1, 8);
  for (int i = 0; i < 500; ++i) {
    const double lp = off(rng), rp = off(rng), lg = off(rng), rg = off(rng), h = 1e-6;
    if (std::abs(lp - lg) < 1e-3 || std::abs(rp - rg) < 1e-3) continue;  // kinks
    const DiouTerms<double> t = diou_terms(lp, rp, lg, rg, 1e-8);
    EXPECT_NEAR(t.grad_left,
                (diou_terms(lp + h, rp, lg, rg, 1e-8).loss - diou_terms(lp - h, rp, lg, rg, 1e-8).loss) / (2 * h),
                1e-7);
    EXPECT_NEAR(t.grad_right,
                (diou_terms(lp, rp + h, lg, rg, 1e-8).loss - diou_terms(lp, rp - h, lg, rg, 1e-8).loss) / (2 * h),
                1e-7);
  }
}

TEST(DiouBody, HandWorkedCase) {
  // pred (1, 3), target (2, 2): inter 1 + 2 = 3, union 4 + 4 − 3 = 5, enclosing 2 + 3 = 5,
  // rho = (3 − 1 − 2 + 2)/2 = 1: loss = 1 − 3/5 + (1/5)² = 0.44.
  EXPECT_NEAR(diou_terms(1.0, 3.0, 2.0, 2.0, 1e-8).loss, 0.44, 1e-12);
}

struct AttentionCase {
  torch::Tensor q, k, v, mask;  // mask [B,1,T] bool
};

AttentionCase attention_case(int64_t T, int64_t valid_in_second, uint64_t seed) {
  torch::manual_seed(seed);
  AttentionCase c;
  c.q = torch::randn({2, 3, T, 8}) / std::sqrt(8.0);
  c.k = torch::randn({2, 3, T, 8});
  c.v = torch::randn({2, 3, T, 8});
  c.mask = torch::ones({2, 1, T}, torch::kBool);
  c.mask.index_put_({1, 0, torch::indexing::Slice(valid_in_second, T)}, false);
  return c;
}

LocalAttentionShape shape(const AttentionCase& c, int64_t window) {
  return {c.q.size(0), c.q.size(1), c.q.size(2), c.q.size(3), static_cast<int>(window / 2), 1.f};
}

TEST(LocalAttentionBody, ForwardAndBackwardMatchTheModelsBandFormulation) {
  for (const int64_t window : {3, 9, 19}) {
    const AttentionCase c = attention_case(37, 29, 11 + window);
    const torch::Tensor q = c.q.clone().requires_grad_(true), k = c.k.clone().requires_grad_(true),
                        v = c.v.clone().requires_grad_(true);
    const torch::Tensor expected = model::local_window_attention(q, k, v, c.mask, window, 0.0, false);
    torch::manual_seed(99);
    const torch::Tensor dout = torch::randn_like(expected);
    const auto grads = torch::autograd::grad({(expected * dout).sum()}, {q, k, v});

    const torch::Tensor valid = c.mask.reshape({2, 37}).to(torch::kByte).contiguous();
    torch::Tensor out = torch::empty_like(c.q), dq = torch::empty_like(c.q),
                  dk = torch::empty_like(c.q), dv = torch::empty_like(c.q);
    const LocalAttentionShape s = shape(c, window);
    cpu::local_attention_forward(c.q.data_ptr<float>(), c.k.data_ptr<float>(), c.v.data_ptr<float>(),
                                 valid.data_ptr<uint8_t>(), s, out.data_ptr<float>());
    cpu::local_attention_backward(c.q.data_ptr<float>(), c.k.data_ptr<float>(),
                                  c.v.data_ptr<float>(), valid.data_ptr<uint8_t>(), s,
                                  dout.data_ptr<float>(), dq.data_ptr<float>(),
                                  dk.data_ptr<float>(), dv.data_ptr<float>());
    EXPECT_TRUE(torch::allclose(out, expected.detach(), 1e-5, 1e-6)) << "window " << window;
    EXPECT_TRUE(torch::allclose(dq, grads[0], 1e-4, 1e-5)) << "window " << window;
    EXPECT_TRUE(torch::allclose(dk, grads[1], 1e-4, 1e-5)) << "window " << window;
    EXPECT_TRUE(torch::allclose(dv, grads[2], 1e-4, 1e-5)) << "window " << window;
    // Padded queries give zero rows.
    EXPECT_EQ(out.index({1, torch::indexing::Slice(), torch::indexing::Slice(29, 37)}).abs().max().item<float>(), 0.f);
  }
}

TEST(LocalAttentionBody, GradientMatchesCentralDifferencesInDouble) {
  const int64_t B = 1, N = 1, T = 7, D = 3;
  const LocalAttentionShape s{B, N, T, D, 2, 0.7f};
  std::mt19937_64 rng(13);
  std::normal_distribution<double> normal;
  std::vector<double> q(T * D), k(T * D), v(T * D), dout(T * D);
  for (auto* vec : {&q, &k, &v, &dout})
    for (double& x : *vec) x = normal(rng);
  const uint8_t valid[T] = {1, 1, 1, 1, 1, 0, 0};
  const auto objective = [&]() {
    double total = 0;
    std::vector<double> out(T * D);
    for (int64_t t = 0; t < T; ++t) local_attention_row(q.data(), k.data(), v.data(), valid, s, t, out.data());
    for (int64_t i = 0; i < T * D; ++i) total += out[i] * dout[i];
    return total;
  };
  std::vector<double> dq(T * D), dk(T * D, 0.0), dv(T * D, 0.0);
  const auto add = [](double* where, double value) { *where += value; };
  for (int64_t t = 0; t < T; ++t)
    local_attention_row_backward(q.data(), k.data(), v.data(), valid, s, t, dout.data(), dq.data(),
                                 dk.data(), dv.data(), add);
  const double h = 1e-6;
  for (auto [x, g] : {std::pair{&q, &dq}, std::pair{&k, &dk}, std::pair{&v, &dv}}) {
    for (int64_t i = 0; i < T * D; ++i) {
      const double keep = (*x)[i];
      (*x)[i] = keep + h;
      const double up = objective();
      (*x)[i] = keep - h;
      const double down = objective();
      (*x)[i] = keep;
      EXPECT_NEAR((*g)[i], (up - down) / (2 * h), 1e-7) << "element " << i;
    }
  }
}

TEST(EmaBody, IsBitExactWithTheReferenceOps) {
  torch::manual_seed(17);
  std::vector<torch::Tensor> averages = {torch::randn({1000}), torch::randn({3, 5})};
  const std::vector<torch::Tensor> values = {torch::randn({1000}), torch::randn({3, 5})};
  const double decay = 0.999;
  std::vector<torch::Tensor> expected;
  for (size_t i = 0; i < averages.size(); ++i)
    expected.push_back(decay * averages[i] + (1.0 - decay) * values[i]);
  std::vector<EmaSpan> spans;
  for (size_t i = 0; i < averages.size(); ++i)
    spans.push_back({averages[i].data_ptr<float>(), values[i].data_ptr<float>(), averages[i].numel()});
  cpu::ema_update(spans.data(), 2, static_cast<float>(decay), static_cast<float>(1.0 - decay));
  for (size_t i = 0; i < averages.size(); ++i) EXPECT_TRUE(torch::equal(averages[i], expected[i]));
}

}  // namespace
}  // namespace asl::kernels
