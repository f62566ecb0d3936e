// The losses (src/model/losses.h) against independent double-precision computations written from
// their formulas, hand-worked cases, and finite differences in double. The batch case below
// was also run once through the reference's own PtTransformer.losses (ego4d_asl, PyTorch
// 1.13) on the same inputs: losses, targets and gradients agreed to float32 round-off.
#include <gtest/gtest.h>

#include "common/test_util.h"
#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <functional>
#include <set>
#include <string>
#include <vector>

#include "core/error.h"
#include "model/losses.h"
#include "model/outputs.h"
#include "model/targets.h"

namespace asl::model {
namespace {

// ---------------------------------------------------------------------------------------
// Independent scalar formulas, in double.

// (torch::tensor of a braced list of doubles is float32, like Python's default dtype.)
at::Tensor doubles(const std::vector<double>& v) { return torch::tensor(v, torch::dtype(at::kDouble)); }

double sigmoid(double z) { return 1 / (1 + std::exp(-z)); }

double focal(double z, double y, double alpha = 0.25, double gamma = 2.0) {
  const double p = sigmoid(z);
  const double ce = std::max(z, 0.0) - z * y + std::log1p(std::exp(-std::abs(z)));
  const double p_t = p * y + (1 - p) * (1 - y);
  const double alpha_t = alpha * y + (1 - alpha) * (1 - y);
  return alpha_t * std::pow(1 - p_t, gamma) * ce;
}

double diou(double lp, double rp, double lg, double rg) {
  const double inter = std::min(lp, lg) + std::min(rp, rg);
  const double uni = lp + rp + lg + rg - inter;
  const double iou = inter / std::max(uni, 1e-8);
  const double enclosing = std::max(lp, lg) + std::max(rp, rg);
  const double rho = (rp - lp - rg + lg) / 2;
  const double d = rho / std::max(enclosing, 1e-8);
  return 1 - iou + d * d;
}

// ---------------------------------------------------------------------------------------
// A small batch: C = 3, level 0 (stride 1, 8 points, range [0, 4]) and level 1 (stride 2,
// 4 points, range [2, 100]); video 0 fully valid, video 1 valid for t < 6. Logits and
// offsets follow fixed formulas so the same inputs can be rebuilt anywhere.

constexpr int64_t kC = 3;
const std::vector<int64_t> kLevelT = {8, 4};

at::Tensor points_of_level(int64_t l, at::ScalarType dtype) {
  const double stride = l == 0 ? 1 : 2, lo = l == 0 ? 0 : 2, hi = l == 0 ? 4 : 100;
  std::vector<double> rows;
  for (int64_t i = 0; i < kLevelT[l]; ++i) rows.insert(rows.end(), {i * stride, lo, hi, stride});
  return torch::tensor(rows, torch::dtype(at::kDouble)).view({kLevelT[l], 4}).to(dtype);
}

struct Batch {
  NetworkOutputs out;
  std::vector<at::Tensor> segments, labels;
  ActionSensitivity gauss;
};

Batch make_batch(at::ScalarType dtype, bool requires_grad) {
  Batch b;
  const int64_t B = 2;
  const int64_t valid_len[2] = {8, 6};
  int64_t offset = 0;  // concatenated point index of the level's first point
  for (int64_t l = 0; l < 2; ++l) {
    const int64_t T = kLevelT[l], stride = l == 0 ? 1 : 2;
    at::Tensor logits = torch::empty({B, T, kC}, torch::dtype(at::kDouble));
    at::Tensor offs = torch::empty({B, T, 2}, torch::dtype(at::kDouble));
    at::Tensor mask = torch::empty({B, T}, torch::dtype(at::kBool));
    for (int64_t v = 0; v < B; ++v) {
      for (int64_t t = 0; t < T; ++t) {
        const int64_t p = offset + t;
        for (int64_t c = 0; c < kC; ++c)
          logits[v][t][c] = 2.5 * std::sin(1.3 * (v * 100 + p * 7 + c) + 0.4);
        for (int64_t k = 0; k < 2; ++k)
          offs[v][t][k] = 0.2 + 1.5 * (1 + std::sin(0.9 * (v * 50 + p * 3 + k)));
        mask[v][t] = t * stride < valid_len[v];  // m[..., ::stride]
      }
    }
    b.out.cls_logits.push_back(logits.to(dtype).requires_grad_(requires_grad));
    b.out.offsets.push_back(offs.to(dtype).requires_grad_(requires_grad));
    b.out.masks.push_back(mask);
    b.out.points.push_back(points_of_level(l, dtype));
    offset += T;
  }
  const auto d = torch::dtype(dtype);
  b.segments = {torch::tensor({1.5, 5.5, 0.5, 3.5}, d).view({2, 2}),
                torch::tensor({2.0, 4.5, 5.5, 7.5}, d).view({2, 2})};  // 2nd one in the padding
  b.labels = {torch::tensor({2, 0}, torch::kLong), torch::tensor({1, 0}, torch::kLong)};
  b.gauss.mu = torch::tensor({0.1, -0.2, 0.3}, d).view({3, 1}).requires_grad_(requires_grad);
  b.gauss.sigma = torch::tensor({0.6, 1.5, 0.9}, d).view({3, 1}).requires_grad_(requires_grad);
  b.gauss.mu_reg_left = torch::tensor({-0.4, -0.3, -0.6}, d).view({3, 1}).requires_grad_(requires_grad);
  b.gauss.sigma_reg_left = torch::tensor({0.8, 2.0, 1.1}, d).view({3, 1}).requires_grad_(requires_grad);
  b.gauss.mu_reg_right = torch::tensor({0.6, 0.25, 0.45}, d).view({3, 1}).requires_grad_(requires_grad);
  b.gauss.sigma_reg_right = torch::tensor({1.2, 0.7, 0.95}, d).view({3, 1}).requires_grad_(requires_grad);
  return b;
}

TargetOptions target_opts() {
  TargetOptions o;
  o.num_classes = kC;
  o.center_sample = CenterSample::kRadius;
  o.center_sample_radius = 1.5;
  return o;
}

LossOptions loss_opts(double al_weight = 0.2) {
  LossOptions o;
  o.num_classes = kC;
  o.loss_weight = 1.0;
  o.al_loss_weight = al_weight;
  return o;
}

BatchTargets targets_of(const Batch& b) {
  return label_points(b.out.points, b.segments, b.labels, b.gauss, target_opts());
}

// The four losses (cls, reg, al, final; docs/model.md) from the targets, point by point in
// double.
struct Expected {
  double cls = 0, reg = 0, al = 0, final_loss = 0;
  int64_t num_pos = 0;
};

Expected expected_losses(const Batch& b, const BatchTargets& tg, double init_norm,
                         double label_smoothing = 0.0, double al_weight = 0.2) {
  const auto d = [](const at::Tensor& t) { return t.detach().to(at::kDouble).contiguous(); };
  const at::Tensor z = d(torch::cat(b.out.cls_logits, 1)), o = d(torch::cat(b.out.offsets, 1));
  const at::Tensor valid = torch::cat(b.out.masks, 1);
  const at::Tensor y = d(tg.cls), g = d(tg.reg), wc = d(tg.w_cls), wl = d(tg.w_left), wr = d(tg.w_right);
  const int64_t B = z.size(0), P = z.size(1);
  Expected e;
  auto is_pos = [&](int64_t v, int64_t p) {
    return valid[v][p].item<bool>() && y[v][p].sum().item<double>() > 0;
  };
  for (int64_t v = 0; v < B; ++v)
    for (int64_t p = 0; p < P; ++p) e.num_pos += is_pos(v, p);
  const double norm = 0.9 * init_norm + 0.1 * std::max<int64_t>(e.num_pos, 1);
  for (int64_t v = 0; v < B; ++v) {
    std::vector<double> q(kC, 0.0);
    for (int64_t p = 0; p < P; ++p) {
      const bool ok = valid[v][p].item<bool>(), pos = is_pos(v, p);
      if (ok) {
        double s = 0;
        for (int64_t c = 0; c < kC; ++c) {
          const double target = y[v][p][c].item<double>() * (1 - label_smoothing) +
                                label_smoothing / (kC + 1);
          s += focal(z[v][p][c].item<double>(), target);
        }
        e.cls += (pos ? wc[v][p].item<double>() : 1.0) * s;
      }
      if (pos) {
        e.reg += diou(o[v][p][0].item<double>(), o[v][p][1].item<double>(), g[v][p][0].item<double>(),
                      g[v][p][1].item<double>()) *
                 (wl[v][p].item<double>() + wr[v][p].item<double>()) / 2 * wc[v][p].item<double>();
      }
      // softmax over classes; a padded point is uniform
      double zmax = -1e300, sum = 0;
      for (int64_t c = 0; c < kC; ++c) zmax = std::max(zmax, z[v][p][c].item<double>());
      for (int64_t c = 0; c < kC; ++c) sum += std::exp(z[v][p][c].item<double>() - zmax);
      for (int64_t c = 0; c < kC; ++c) {
        const double prob = ok ? std::exp(z[v][p][c].item<double>() - zmax) / sum : 1.0 / kC;
        q[static_cast<size_t>(c)] = std::max(q[static_cast<size_t>(c)], prob);
      }
    }
    std::set<int64_t> labels;
    for (int64_t i = 0; i < b.labels[static_cast<size_t>(v)].size(0); ++i)
      labels.insert(b.labels[static_cast<size_t>(v)][i].item<int64_t>());
    for (int64_t c = 0; c < kC; ++c) {
      const double qc = q[static_cast<size_t>(c)];
      e.al += labels.count(c) ? -std::log(qc) : -std::log(1 - qc);
    }
  }
  e.cls /= norm;
  e.reg /= norm;
  e.al /= norm;
  e.final_loss = e.cls + e.reg + al_weight * e.al;
  return e;
}

void expect_rel(double actual, double expected, double rel, const char* what) {
  EXPECT_NEAR(actual, expected, rel * std::max(1.0, std::abs(expected))) << what;
}

// ---------------------------------------------------------------------------------------

TEST(FocalLoss, MatchesItsFormula) {
  const std::vector<double> zs = {-9, -3, -0.7, 0, 0.4, 2, 6};
  const std::vector<double> ys = {0, 1, 0.3};
  std::vector<double> z, y;
  for (double a : zs)
    for (double b : ys) z.push_back(a), y.push_back(b);
  for (auto dtype : {at::kFloat, at::kDouble}) {
    const at::Tensor loss = sigmoid_focal_loss(doubles(z).to(dtype), doubles(y).to(dtype));
    ASSERT_EQ(loss.scalar_type(), dtype);
    const double tol = dtype == at::kFloat ? 1e-6 : 1e-13;
    for (size_t i = 0; i < z.size(); ++i)
      EXPECT_NEAR(loss[static_cast<int64_t>(i)].item<double>(), focal(z[i], y[i]),
                  tol * std::max(1.0, focal(z[i], y[i])))
          << "z " << z[i] << " y " << y[i];
  }
  // Other α, γ; a half input is computed in float32.
  const at::Tensor other = sigmoid_focal_loss(torch::tensor({1.5}), torch::tensor({1.0}), 0.6, 3.0);
  EXPECT_NEAR(other.item<double>(), focal(1.5, 1.0, 0.6, 3.0), 1e-7);
  EXPECT_EQ(sigmoid_focal_loss(torch::tensor({1.5}).to(at::kHalf), torch::tensor({1.0})).scalar_type(),
            at::kFloat);
}

TEST(CtrDiouLoss, MatchesItsFormula) {
  const std::vector<std::vector<double>> cases = {
      {1, 1, 1, 1},      {0.5, 2, 1, 1},   {3, 0.2, 0.7, 2.5}, {0, 0, 0, 0},  // all zero: 1
      {0, 0, 1.5, 0.5},  {2.2, 0, 0, 2.2}, {0.1, 4, 3, 0.1},
  };
  std::vector<double> pred, target;
  for (const auto& c : cases) pred.insert(pred.end(), {c[0], c[1]}), target.insert(target.end(), {c[2], c[3]});
  const int64_t n = static_cast<int64_t>(cases.size());
  for (auto dtype : {at::kFloat, at::kDouble}) {
    const at::Tensor loss = ctr_diou_loss_1d(doubles(pred).view({n, 2}).to(dtype),
                                             doubles(target).view({n, 2}).to(dtype));
    ASSERT_EQ(loss.sizes(), (at::IntArrayRef{n}));
    const double tol = dtype == at::kFloat ? 1e-6 : 1e-13;
    for (int64_t i = 0; i < n; ++i) {
      const auto& c = cases[static_cast<size_t>(i)];
      EXPECT_NEAR(loss[i].item<double>(), diou(c[0], c[1], c[2], c[3]), tol) << "case " << i;
    }
  }
  EXPECT_DOUBLE_EQ(diou(0, 0, 0, 0), 1.0);
  EXPECT_DOUBLE_EQ(diou(1, 1, 1, 1), 0.0);
}

TEST(CtrDiouLoss, RejectsNegativeOffsets) {
  try {
    ctr_diou_loss_1d(torch::tensor({1.0, -0.5}).view({1, 2}), torch::tensor({1.0, 1.0}).view({1, 2}));
    ADD_FAILURE() << "no error";
  } catch (const Error& e) {
    EXPECT_HAS(e.what(), "ctr_diou_loss_1d: predicted offsets must be non-negative");
  }
  try {
    ctr_diou_loss_1d(torch::tensor({1.0, 0.5}).view({1, 2}), torch::tensor({-1.0, 1.0}).view({1, 2}));
    ADD_FAILURE() << "no error";
  } catch (const Error& e) {
    EXPECT_HAS(e.what(), "target offsets must be non-negative");
  }
}

TEST(LossNormalizer, FollowsTheEmaWithAFloorOfOne) {
  LossNormalizer norm(100);
  EXPECT_EQ(norm.value(), 100);
  EXPECT_NEAR(norm.update(0), 90.1, 1e-12);      // 0.9·100 + 0.1·max(0, 1)
  EXPECT_NEAR(norm.update(5), 81.59, 1e-12);     // 0.9·90.1 + 0.5
  EXPECT_NEAR(norm.update(1000), 173.431, 1e-12);  // 0.9·81.59 + 100
  EXPECT_NEAR(norm.value(), 173.431, 1e-12);
  LossNormalizer slow(10, 0.5);
  EXPECT_NEAR(slow.update(4), 7.0, 1e-15);
}

TEST(ActionLabelLoss, HandWorkedWithAPaddedPoint) {
  // Video 0, C = 3: point 0 logits (0, ln 2, ln 5) → softmax (1/8, 2/8, 5/8); point 1
  // (ln 2, 0, 0) → (1/2, 1/4, 1/4); point 2 padded (its logits are ignored) → (1/3, 1/3, 1/3).
  // Max per class: (1/2, 1/3 from the padding, 5/8). Labels {2}:
  //   −log(1 − 1/2) − log(1 − 1/3) − log(5/8) = log 2 + log 1.5 + log 1.6.
  // Video 1, all valid, logits 0 → 1/3 everywhere; labels {0, 0, 1}:
  //   −2·log(1/3) − log(2/3).
  const double l2 = std::log(2.0), l5 = std::log(5.0);
  at::Tensor logits = torch::tensor({0.0, l2, l5, l2, 0.0, 0.0, 50.0, -20.0, 3.0,  //
                                     0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0},
                                    torch::dtype(at::kDouble))
                          .view({2, 3, 3})
                          .requires_grad_(true);
  const at::Tensor valid = torch::tensor({true, true, false, true, true, true}).view({2, 3});
  const at::Tensor loss = action_label_loss(logits, valid,
                                            {torch::tensor({2}, torch::kLong),
                                             torch::tensor({0, 0, 1}, torch::kLong)});
  const double expected = (std::log(2.0) + std::log(1.5) + std::log(1.6)) +
                          (-2 * std::log(1.0 / 3) - std::log(2.0 / 3));
  EXPECT_NEAR(loss.item<double>(), expected, 1e-12);
  loss.backward();
  EXPECT_EQ(logits.grad()[0][2].abs().sum().item<double>(), 0.0);  // padding: no gradient
  EXPECT_GT(logits.grad()[0][0].abs().sum().item<double>(), 0.0);

  // float32: the padded row's softmax is exactly uniform, so it can win the max.
  const at::Tensor f = action_label_loss(logits.detach().to(at::kFloat), valid,
                                         {torch::tensor({2}, torch::kLong), torch::tensor({0, 1}, torch::kLong)});
  EXPECT_NEAR(f.item<double>(), expected, 1e-5);
}

// NLQ's single class: softmax over one class is 1, so the loss is 0 (the reference's formula
// would give 0·log 0 = NaN and poison the total even at al_loss_weight 0).
TEST(ActionLabelLoss, OneClassIsZeroNotNaN) {
  const at::Tensor logits = torch::randn({2, 5, 1}, torch::kDouble);
  const at::Tensor valid = torch::ones({2, 5}, torch::kBool);
  const at::Tensor loss = action_label_loss(logits, valid, {torch::tensor({0}, torch::kLong),
                                                            torch::tensor({0}, torch::kLong)});
  EXPECT_EQ(loss.item<double>(), 0.0);
}

TEST(Losses, MatchAnIndependentDoubleComputation) {
  for (auto dtype : {at::kFloat, at::kDouble}) {
    const Batch b = make_batch(dtype, false);
    const BatchTargets tg = targets_of(b);
    const Expected e = expected_losses(b, tg, 100);
    // Positives at padded points (video 1's segment [5.5, 7.5]) are not counted.
    EXPECT_GT(torch::cat(b.out.masks, 1).logical_not().logical_and(tg.cls.sum(-1) > 0).sum().item<int64_t>(), 0);
    LossNormalizer norm(100);
    const LossValues r = compute_losses(b.out, tg, b.labels, norm, loss_opts());
    EXPECT_EQ(r.num_pos, e.num_pos);
    EXPECT_GT(r.num_pos, 1);
    EXPECT_DOUBLE_EQ(r.normalizer, 0.9 * 100 + 0.1 * static_cast<double>(e.num_pos));
    EXPECT_EQ(norm.value(), r.normalizer);
    const double rel = dtype == at::kFloat ? 2e-6 : 1e-12;
    expect_rel(r.cls_loss.item<double>(), e.cls, rel, "cls");
    expect_rel(r.reg_loss.item<double>(), e.reg, rel, "reg");
    expect_rel(r.al_loss.item<double>(), e.al, rel, "al");
    expect_rel(r.final_loss.item<double>(), e.final_loss, rel, "final");
    EXPECT_EQ(r.final_loss.scalar_type(), dtype);
  }
}

TEST(Losses, LabelSmoothingSoftensTheFocalTargets) {
  const Batch b = make_batch(at::kDouble, false);
  const BatchTargets tg = targets_of(b);
  LossOptions o = loss_opts();
  o.label_smoothing = 0.1;
  const Expected e = expected_losses(b, tg, 100, 0.1);
  LossNormalizer norm(100);
  const LossValues r = compute_losses(b.out, tg, b.labels, norm, o);
  expect_rel(r.cls_loss.item<double>(), e.cls, 1e-12, "cls");
  expect_rel(r.reg_loss.item<double>(), e.reg, 1e-12, "reg");
}

TEST(Losses, NonPositiveLossWeightBalancesRegressionByTheRatio) {
  const Batch b = make_batch(at::kDouble, false);
  const BatchTargets tg = targets_of(b);
  LossOptions o = loss_opts();
  o.loss_weight = 0;
  const LossValues r = compute_losses(b.out, tg, b.labels, 50.0, o);
  const double cls = r.cls_loss.item<double>(), reg = r.reg_loss.item<double>();
  EXPECT_NEAR(r.final_loss.item<double>(), cls + reg * cls / std::max(reg, 0.01) + 0.2 * r.al_loss.item<double>(),
              1e-12);
}

TEST(Losses, GlobalPositiveCountOnlyChangesTheNormalizer) {
  const Batch b = make_batch(at::kDouble, false);
  const BatchTargets tg = targets_of(b);
  const int64_t local = count_positives(b.out, tg);
  EXPECT_EQ(local, positive_mask(b.out, tg).sum().item<int64_t>());
  LossNormalizer single(100), cluster(100);
  const LossValues a = compute_losses(b.out, tg, b.labels, single, loss_opts());
  // Another rank had 13 positives: the all-reduced count goes into the EMA.
  cluster.update(local + 13);
  const LossValues g = compute_losses(b.out, tg, b.labels, cluster.value(), loss_opts());
  EXPECT_EQ(g.num_pos, local);
  EXPECT_DOUBLE_EQ(g.normalizer, 0.9 * 100 + 0.1 * static_cast<double>(local + 13));
  expect_rel(g.final_loss.item<double>() * g.normalizer, a.final_loss.item<double>() * a.normalizer,
             1e-12, "final × norm");
}

TEST(Losses, NoPositivesGiveAZeroRegressionLossThatStillBackpropagates) {
  Batch b = make_batch(at::kFloat, true);
  // A segment in the padding of video 1 only, and one too short for any range in video 0.
  b.segments = {torch::tensor({0.0, 0.05}).view({1, 2}), torch::tensor({6.5, 7.5}).view({1, 2})};
  b.labels = {torch::tensor({1}, torch::kLong), torch::tensor({2}, torch::kLong)};
  const BatchTargets tg = targets_of(b);
  LossNormalizer norm(100);
  const LossValues r = compute_losses(b.out, tg, b.labels, norm, loss_opts());
  EXPECT_EQ(r.num_pos, 0);
  EXPECT_NEAR(r.normalizer, 90.1, 1e-12);
  EXPECT_EQ(r.reg_loss.item<double>(), 0.0);
  ASSERT_TRUE(r.reg_loss.requires_grad());
  const Expected e = expected_losses(b, tg, 100);
  expect_rel(r.final_loss.item<double>(), e.final_loss, 2e-6, "final");
  r.final_loss.backward();
  for (const auto& o : b.out.offsets) {
    ASSERT_TRUE(o.grad().defined());
    EXPECT_EQ(o.grad().abs().sum().item<double>(), 0.0);
  }
  // No positives: the Gaussians get no gradient either.
  EXPECT_FALSE(b.gauss.mu.grad().defined() && b.gauss.mu.grad().abs().sum().item<double>() != 0.0);
}

// Central differences of final_loss in double for every logit, offset and Gaussian value.
TEST(Losses, GradientsMatchFiniteDifferences) {
  Batch b = make_batch(at::kDouble, true);
  const double normalizer = 7.3;
  auto loss = [&]() {
    const BatchTargets tg = targets_of(b);
    return compute_losses(b.out, tg, b.labels, normalizer, loss_opts()).final_loss;
  };
  std::vector<at::Tensor> inputs = {b.gauss.mu,         b.gauss.sigma,       b.gauss.mu_reg_left,
                                    b.gauss.sigma_reg_left, b.gauss.mu_reg_right, b.gauss.sigma_reg_right};
  for (const auto& t : b.out.cls_logits) inputs.push_back(t);
  for (const auto& t : b.out.offsets) inputs.push_back(t);
  const auto grads = torch::autograd::grad({loss()}, inputs);

  torch::NoGradGuard no_grad;
  const double h = 1e-6;
  int64_t checked = 0;
  for (size_t k = 0; k < inputs.size(); ++k) {
    EXPECT_GT(grads[k].abs().sum().item<double>(), 0.0) << "input " << k;
    at::Tensor flat = inputs[k].view({-1});
    const at::Tensor grad = grads[k].reshape({-1});
    for (int64_t i = 0; i < flat.size(0); ++i) {
      const double x0 = flat[i].item<double>();
      flat[i].fill_(x0 + h);
      const double up = loss().item<double>();
      flat[i].fill_(x0 - h);
      const double down = loss().item<double>();
      flat[i].fill_(x0);
      const double fd = (up - down) / (2 * h);
      EXPECT_NEAR(grad[i].item<double>(), fd, 1e-7 * std::max(1.0, std::abs(fd)))
          << "input " << k << " element " << i;
      ++checked;
    }
  }
  EXPECT_EQ(checked, 6 * 3 + 2 * 12 * 3 + 2 * 12 * 2);
}

TEST(Losses, RejectMismatchedBatches) {
  const Batch b = make_batch(at::kFloat, false);
  const BatchTargets tg = targets_of(b);
  try {
    compute_losses(b.out, tg, {b.labels[0]}, 10.0, loss_opts());
    ADD_FAILURE() << "no error";
  } catch (const Error& e) {
    EXPECT_HAS(e.what(), "losses: 1 label lists for a batch of 2 videos");
  }
  BatchTargets one = tg;
  one.cls = tg.cls.narrow(0, 0, 1);
  try {
    compute_losses(b.out, one, b.labels, 10.0, loss_opts());
    ADD_FAILURE() << "no error";
  } catch (const Error& e) {
    EXPECT_HAS(e.what(), "targets are for 1 videos, outputs for 2");
  }
  config::TrainConfig train;
  train.al_loss_weight = 0.2;
  train.loss_weight = 2.0;
  const LossOptions from = loss_options(train, 11);
  EXPECT_EQ(from.num_classes, 11);
  EXPECT_EQ(from.al_loss_weight, 0.2);
  EXPECT_EQ(from.loss_weight, 2.0);
}

}  // namespace
}  // namespace asl::model
