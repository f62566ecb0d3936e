// Label assignment (src/model/targets.h) on hand-worked cases. The cases with the initial
// Gaussians were also run once through the reference's own label_points_single_video
// (ego4d_asl, PyTorch 1.13): same classes, offsets and weights.
#include <gtest/gtest.h>

#include "common/test_util.h"
#include <torch/torch.h>

#include <cmath>
#include <set>
#include <string>
#include <vector>

#include "core/error.h"
#include "model/targets.h"

namespace asl::model {
namespace {

// One pyramid level: rows (t, lo, hi, stride).
at::Tensor level(double stride, const std::vector<double>& ts, double lo, double hi,
                 at::ScalarType dtype = at::kFloat) {
  std::vector<double> rows;
  for (double t : ts) rows.insert(rows.end(), {t, lo, hi, stride});
  return torch::tensor(rows, torch::dtype(at::kDouble))
      .view({static_cast<int64_t>(ts.size()), 4})
      .to(dtype);
}

std::vector<double> range(double start, double stop, double step = 1) {
  std::vector<double> v;
  for (double t = start; t < stop; t += step) v.push_back(t);
  return v;
}

at::Tensor segments(const std::vector<std::vector<double>>& segs, at::ScalarType dtype = at::kFloat) {
  std::vector<double> flat;
  for (const auto& s : segs) flat.insert(flat.end(), s.begin(), s.end());
  return torch::tensor(flat, torch::dtype(at::kDouble))
      .view({static_cast<int64_t>(segs.size()), 2})
      .to(dtype);
}

at::Tensor labels(const std::vector<int64_t>& l) { return torch::tensor(l, torch::dtype(at::kLong)); }

// The reference's initial Gaussians: μ 0 / −0.5 / +0.5, σ 1.
ActionSensitivity initial_sensitivity(int64_t C, at::ScalarType dtype = at::kFloat) {
  const auto o = torch::dtype(dtype);
  return {torch::zeros({C, 1}, o),        torch::ones({C, 1}, o),
          torch::full({C, 1}, -0.5, o),   torch::ones({C, 1}, o),
          torch::full({C, 1}, 0.5, o),    torch::ones({C, 1}, o)};
}

TargetOptions options(int64_t C, CenterSample sample, double radius = 1.5) {
  TargetOptions o;
  o.num_classes = C;
  o.center_sample = sample;
  o.center_sample_radius = radius;
  return o;
}

double gauss(double x, double mu, double sigma) {
  return std::exp(-(x - mu) * (x - mu) / (2 * sigma * sigma));
}

// The classes set at point p.
std::set<int64_t> classes_at(const VideoTargets& v, int64_t p) {
  std::set<int64_t> s;
  const at::Tensor row = v.cls[p];
  for (int64_t c = 0; c < row.size(0); ++c) {
    const double value = row[c].item<double>();
    EXPECT_TRUE(value == 0.0 || value == 1.0) << "p " << p << " c " << c << ": " << value;
    if (value == 1.0) s.insert(c);
  }
  return s;
}

void expect_offsets(const VideoTargets& v, int64_t p, double left, double right) {
  EXPECT_NEAR(v.reg[p][0].item<double>(), left, 1e-6) << "point " << p;
  EXPECT_NEAR(v.reg[p][1].item<double>(), right, 1e-6) << "point " << p;
}

// Weights for signed centre distance x = (centre − t) / (stride · length), initial Gaussians.
void expect_initial_weights(const VideoTargets& v, int64_t p, double x) {
  EXPECT_NEAR(v.w_cls[p].item<double>(), gauss(x, 0, 1), 1e-6) << "point " << p;
  EXPECT_NEAR(v.w_left[p].item<double>(), gauss(x, -0.5, 1), 1e-6) << "point " << p;
  EXPECT_NEAR(v.w_right[p].item<double>(), gauss(x, 0.5, 1), 1e-6) << "point " << p;
}

TEST(LabelPoints, OneSegmentStrictlyInsideAndInRange) {
  // Segment [1.5, 5.5] (class 2), stride-1 points t = 0..7, regression range [0, 3].
  // Inside: t = 2..5; max(t − 1.5, 5.5 − t) = 3.5, 2.5, 2.5, 3.5 → only t = 3, 4 in range.
  const VideoTargets v = label_points_single_video(level(1, range(0, 8), 0, 3), segments({{1.5, 5.5}}),
                                                   labels({2}), initial_sensitivity(3),
                                                   options(3, CenterSample::kNone));
  ASSERT_EQ(v.cls.sizes(), (at::IntArrayRef{8, 3}));
  ASSERT_EQ(v.reg.sizes(), (at::IntArrayRef{8, 2}));
  for (int64_t t = 0; t < 8; ++t) {
    EXPECT_EQ(classes_at(v, t), (t == 3 || t == 4) ? std::set<int64_t>{2} : std::set<int64_t>{})
        << "t " << t;
    // Points without a candidate still take segment 0's offsets and weights.
    expect_offsets(v, t, t - 1.5, 5.5 - t);
    expect_initial_weights(v, t, (3.5 - t) / 4.0);
  }
  EXPECT_FALSE(v.cls.requires_grad());
  EXPECT_FALSE(v.reg.requires_grad());
}

TEST(LabelPoints, ShortestOverlappingSegmentWins) {
  // A = [0.5, 8.5] class 0 (length 8), B = [2.5, 5.5] class 1 (length 3). t = 3..5 lie in both.
  const VideoTargets v = label_points_single_video(
      level(1, range(0, 10), 0, 100), segments({{0.5, 8.5}, {2.5, 5.5}}), labels({0, 1}),
      initial_sensitivity(2), options(2, CenterSample::kNone));
  for (int64_t t = 0; t < 10; ++t) {
    std::set<int64_t> expected;
    if (t >= 3 && t <= 5) expected = {1};
    else if (t >= 1 && t <= 8) expected = {0};
    EXPECT_EQ(classes_at(v, t), expected) << "t " << t;
  }
  expect_offsets(v, 4, 1.5, 1.5);  // from B
  expect_initial_weights(v, 4, 0.0);
  expect_offsets(v, 3, 0.5, 2.5);
  expect_initial_weights(v, 3, (4.0 - 3) / 3.0);
  expect_offsets(v, 6, 5.5, 2.5);  // from A
  expect_initial_weights(v, 6, (4.5 - 6) / 8.0);
  expect_offsets(v, 9, 8.5, -0.5);  // no candidate: segment 0
}

TEST(LabelPoints, EqualLengthsShareThePointAndTheFirstGivesOffsets) {
  // A = [1.5, 5.5] class 0 (length 4), B = [2.5, 6.5] class 2 (length 4),
  // C = [2.5, 6.5005] class 1 (within 1e-3 of 4), D = [2.5, 6.502] class 3 (0.002 longer).
  const VideoTargets v = label_points_single_video(
      level(1, range(0, 8), 0, 100),
      segments({{1.5, 5.5}, {2.5, 6.5}, {2.5, 6.5005}, {2.5, 6.502}}), labels({0, 2, 1, 3}),
      initial_sensitivity(5), options(5, CenterSample::kNone));
  EXPECT_EQ(classes_at(v, 2), (std::set<int64_t>{0}));  // only in A
  for (int64_t t : {3, 4, 5}) {
    EXPECT_EQ(classes_at(v, t), (std::set<int64_t>{0, 1, 2})) << "t " << t;  // D too long
    expect_offsets(v, t, t - 1.5, 5.5 - t);  // A: first of the equal lengths
    expect_initial_weights(v, t, (3.5 - t) / 4.0);
  }
  EXPECT_EQ(classes_at(v, 6), (std::set<int64_t>{1, 2}));  // B, C (A has ended)
  expect_offsets(v, 6, 3.5, 0.5);                          // B
  expect_initial_weights(v, 6, (4.5 - 6) / 4.0);
}

TEST(LabelPoints, RegressionRangeBoundsAreInclusiveAndOffsetsUseTheStride) {
  // Segment [1.5, 5.5] class 1. Level 0 (stride 1) range [0, 2.5]; level 1 (stride 2)
  // range [3.5, 8]. Level 0: t = 3, 4 have max distance 2.5 = hi → kept; t = 2, 5 (3.5)
  // out. Level 1: t = 2 has 3.5 = lo → kept; t = 4 has 2.5 < lo → out.
  const at::Tensor points =
      concat_points({level(1, range(0, 8), 0, 2.5), level(2, range(0, 8, 2), 3.5, 8)});
  const VideoTargets v = label_points_single_video(points, segments({{1.5, 5.5}}), labels({1}),
                                                   initial_sensitivity(2),
                                                   options(2, CenterSample::kNone));
  ASSERT_EQ(v.cls.size(0), 12);
  const std::set<int64_t> positives = {3, 4, 9};  // level 1 starts at index 8; t = 2 is 9
  for (int64_t p = 0; p < 12; ++p)
    EXPECT_EQ(classes_at(v, p), positives.count(p) ? std::set<int64_t>{1} : std::set<int64_t>{})
        << "p " << p;
  expect_offsets(v, 9, 0.5 / 2, 3.5 / 2);
  expect_initial_weights(v, 9, (3.5 - 2) / (2 * 4.0));
  expect_offsets(v, 11, 4.5 / 2, -0.5 / 2);  // t = 6, outside
  expect_initial_weights(v, 11, (3.5 - 6) / (2 * 4.0));
}

TEST(LabelPoints, CenterSamplingRadiusIsStrict) {
  // Segment [0, 10] (centre 5), radius 1.5: stride 1 → (3.5, 6.5) gives t = 4, 5, 6;
  // stride 2 → (2, 8) excludes t = 2 and t = 8 exactly on the boundary.
  const at::Tensor points =
      concat_points({level(1, range(0, 11), 0, 100), level(2, range(0, 11, 2), 0, 100)});
  const VideoTargets v =
      label_points_single_video(points, segments({{0, 10}}), labels({0}), initial_sensitivity(1),
                                options(1, CenterSample::kRadius, 1.5));
  const std::set<int64_t> positives = {4, 5, 6, 11 + 2, 11 + 3};  // stride 2: t = 4, 6
  for (int64_t p = 0; p < points.size(0); ++p)
    EXPECT_EQ(classes_at(v, p), positives.count(p) ? std::set<int64_t>{0} : std::set<int64_t>{})
        << "p " << p;
  expect_initial_weights(v, 11 + 2, (5.0 - 4) / (2 * 10.0));

  // Without centre sampling every point strictly inside counts: t = 1..9.
  const VideoTargets all = label_points_single_video(
      level(1, range(0, 11), 0, 100), segments({{0, 10}}), labels({0}), initial_sensitivity(1),
      options(1, CenterSample::kNone));
  for (int64_t t = 0; t <= 10; ++t)
    EXPECT_EQ(classes_at(all, t), (t >= 1 && t <= 9) ? std::set<int64_t>{0} : std::set<int64_t>{})
        << "t " << t;
}

TEST(LabelPoints, CenterSamplingIsClippedToTheSegment) {
  // Segment [3.0, 4.6] (centre 3.8), stride 2, radius 1.5 → window (0.8, 6.8) clipped to
  // (3.0, 4.6): t = 2 and t = 6 are within the radius but outside the segment.
  const VideoTargets v = label_points_single_video(
      level(2, range(0, 8, 2), 0, 100), segments({{3.0, 4.6}}), labels({0}),
      initial_sensitivity(1), options(1, CenterSample::kRadius, 1.5));
  EXPECT_EQ(classes_at(v, 0), std::set<int64_t>{});
  EXPECT_EQ(classes_at(v, 1), std::set<int64_t>{});
  EXPECT_EQ(classes_at(v, 2), std::set<int64_t>{0});
  EXPECT_EQ(classes_at(v, 3), std::set<int64_t>{});
  expect_offsets(v, 2, 1.0 / 2, 0.6 / 2);
  expect_initial_weights(v, 2, (3.8 - 4) / (2 * 1.6));
}

TEST(LabelPoints, SeveralLabelsAtOnePointAreClampedToOne) {
  // Three identical segments [1, 5]: classes 2, 2, 0 → classes {0, 2}, each exactly 1.
  const VideoTargets v = label_points_single_video(
      level(1, range(0, 6), 0, 100), segments({{1, 5}, {1, 5}, {1, 5}}), labels({2, 2, 0}),
      initial_sensitivity(3), options(3, CenterSample::kNone));
  for (int64_t t = 0; t < 6; ++t)
    EXPECT_EQ(classes_at(v, t), ((t >= 2 && t <= 4) ? std::set<int64_t>{0, 2} : std::set<int64_t>{}))
        << "t " << t;
  EXPECT_EQ(v.cls.sum().item<double>(), 6.0);
}

TEST(LabelPoints, WeightsUseTheGaussiansOfTheChosenSegmentsClass) {
  // The overlap case with per-class Gaussians: t = 4 takes B (class 1), t = 1 takes A (class 0).
  ActionSensitivity g;
  g.mu = torch::tensor({0.1, -0.2}).view({2, 1});
  g.sigma = torch::tensor({0.5, 1.5}).view({2, 1});
  g.mu_reg_left = torch::tensor({-0.4, -0.3}).view({2, 1});
  g.sigma_reg_left = torch::tensor({0.8, 2.0}).view({2, 1});
  g.mu_reg_right = torch::tensor({0.6, 0.25}).view({2, 1});
  g.sigma_reg_right = torch::tensor({1.2, 0.7}).view({2, 1});
  const VideoTargets v = label_points_single_video(
      level(1, range(0, 10), 0, 100), segments({{0.5, 8.5}, {2.5, 5.5}}), labels({0, 1}), g,
      options(2, CenterSample::kNone));
  const double x3 = (4.0 - 3) / 3.0;  // t = 3, segment B
  EXPECT_NEAR(v.w_cls[3].item<double>(), gauss(x3, -0.2, 1.5), 1e-6);
  EXPECT_NEAR(v.w_left[3].item<double>(), gauss(x3, -0.3, 2.0), 1e-6);
  EXPECT_NEAR(v.w_right[3].item<double>(), gauss(x3, 0.25, 0.7), 1e-6);
  const double x1 = (4.5 - 1) / 8.0;  // t = 1, segment A
  EXPECT_NEAR(v.w_cls[1].item<double>(), gauss(x1, 0.1, 0.5), 1e-6);
  EXPECT_NEAR(v.w_left[1].item<double>(), gauss(x1, -0.4, 0.8), 1e-6);
  EXPECT_NEAR(v.w_right[1].item<double>(), gauss(x1, 0.6, 1.2), 1e-6);
}

TEST(LabelPoints, BatchStacksTheVideos) {
  const std::vector<at::Tensor> levels = {level(1, range(0, 8), 0, 4), level(2, range(0, 8, 2), 2, 100)};
  const std::vector<at::Tensor> segs = {segments({{1.5, 5.5}}), segments({{0.5, 3.5}, {2.0, 7.0}})};
  const std::vector<at::Tensor> labs = {labels({1}), labels({0, 2})};
  const auto g = initial_sensitivity(3);
  const auto o = options(3, CenterSample::kRadius);
  const BatchTargets b = label_points(levels, segs, labs, g, o);
  ASSERT_EQ(b.cls.sizes(), (at::IntArrayRef{2, 12, 3}));
  ASSERT_EQ(b.reg.sizes(), (at::IntArrayRef{2, 12, 2}));
  ASSERT_EQ(b.w_cls.sizes(), (at::IntArrayRef{2, 12}));
  for (int64_t i = 0; i < 2; ++i) {
    const VideoTargets v = label_points_single_video(concat_points(levels), segs[i], labs[i], g, o);
    EXPECT_TRUE(b.cls[i].equal(v.cls));
    EXPECT_TRUE(b.reg[i].equal(v.reg));
    EXPECT_TRUE(b.w_cls[i].equal(v.w_cls));
    EXPECT_TRUE(b.w_left[i].equal(v.w_left));
    EXPECT_TRUE(b.w_right[i].equal(v.w_right));
  }
}

// Σ_p a_p·w_cls + b_p·w_left + c_p·w_right as a function of the six Gaussian tensors (double).
double weighted_sum(const ActionSensitivity& g, const at::Tensor& points, const at::Tensor& segs,
                    const at::Tensor& labs, const TargetOptions& o, at::Tensor* out = nullptr) {
  const VideoTargets v = label_points_single_video(points, segs, labs, g, o);
  const int64_t P = points.size(0);
  const auto d = torch::dtype(at::kDouble);
  const at::Tensor a = torch::linspace(0.3, 1.7, P, d);
  const at::Tensor b = torch::linspace(-1.1, 0.9, P, d);
  const at::Tensor c = torch::linspace(2.0, -0.5, P, d);
  const at::Tensor f = (a * v.w_cls + b * v.w_left + c * v.w_right).sum();
  if (out) *out = f;
  return f.item<double>();
}

TEST(LabelPoints, GaussianGradientsMatchFiniteDifferences) {
  const auto d = at::kDouble;
  const at::Tensor points =
      concat_points({level(1, range(0, 10), 0, 4, d), level(2, range(0, 10, 2), 2, 100, d)});
  // Classes 0 and 2 used twice (gradients accumulate), class 1 unused (zero gradient).
  const at::Tensor segs = segments({{0.5, 8.5}, {2.5, 5.5}, {3.0, 6.2}}, d);
  const at::Tensor labs = labels({0, 2, 0});
  const TargetOptions o = options(3, CenterSample::kRadius);
  ActionSensitivity g;
  g.mu = torch::tensor({0.1, -0.2, 0.3}, torch::dtype(d)).view({3, 1});
  g.sigma = torch::tensor({0.6, 1.5, 0.9}, torch::dtype(d)).view({3, 1});
  g.mu_reg_left = torch::tensor({-0.4, -0.3, -0.6}, torch::dtype(d)).view({3, 1});
  g.sigma_reg_left = torch::tensor({0.8, 2.0, 1.1}, torch::dtype(d)).view({3, 1});
  g.mu_reg_right = torch::tensor({0.6, 0.25, 0.45}, torch::dtype(d)).view({3, 1});
  g.sigma_reg_right = torch::tensor({1.2, 0.7, 0.95}, torch::dtype(d)).view({3, 1});
  std::vector<at::Tensor*> params = {&g.mu, &g.sigma, &g.mu_reg_left, &g.sigma_reg_left,
                                     &g.mu_reg_right, &g.sigma_reg_right};
  for (at::Tensor* p : params) p->requires_grad_(true);

  at::Tensor f;
  weighted_sum(g, points, segs, labs, o, &f);
  std::vector<at::Tensor> inputs;
  for (at::Tensor* p : params) inputs.push_back(*p);
  const auto grads = torch::autograd::grad({f}, inputs);

  for (size_t k = 0; k < params.size(); ++k) EXPECT_GT(grads[k].abs().sum().item<double>(), 0.0) << k;

  torch::NoGradGuard no_grad;  // finite differences
  const double h = 1e-6;
  for (size_t k = 0; k < params.size(); ++k) {
    for (int64_t c = 0; c < 3; ++c) {
      at::Tensor& p = *params[k];
      const double x0 = p[c][0].item<double>();
      p[c][0].fill_(x0 + h);
      const double up = weighted_sum(g, points, segs, labs, o);
      p[c][0].fill_(x0 - h);
      const double down = weighted_sum(g, points, segs, labs, o);
      p[c][0].fill_(x0);
      const double fd = (up - down) / (2 * h);
      EXPECT_NEAR(grads[k][c][0].item<double>(), fd, 1e-7 * std::max(1.0, std::abs(fd)))
          << "parameter " << k << " class " << c;
      if (c == 1) {
        EXPECT_EQ(grads[k][c][0].item<double>(), 0.0);
      }
    }
  }
}

TEST(LabelPoints, RejectsBadInputsNamingTheProblem) {
  const at::Tensor points = level(1, range(0, 4), 0, 100);
  const auto g = initial_sensitivity(3);
  const auto o = options(3, CenterSample::kNone);
  auto message = [&](const at::Tensor& p, const at::Tensor& s, const at::Tensor& l) {
    try {
      label_points_single_video(p, s, l, g, o);
    } catch (const Error& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  EXPECT_HAS(message(points, segments({{0, 2}}), labels({3})), "label 3 outside [0, 3)");
  EXPECT_HAS(message(points, segments({{0, 2}}), labels({-1})), "label -1 outside");
  EXPECT_HAS(message(points, torch::zeros({0, 2}), torch::zeros({0}, torch::kLong)), "without ground-truth segments");
  EXPECT_HAS(message(points, torch::zeros({2, 3}), labels({0, 1})), "segments must be [N, 2], got [2, 3]");
  EXPECT_HAS(message(points, segments({{0, 2}}), labels({0, 1})), "labels must be [N]");
  EXPECT_HAS(message(points.narrow(1, 0, 3), segments({{0, 2}}), labels({0})), "points must be [P, 4]");
  EXPECT_HAS(message(points, segments({{0, 2}}), torch::tensor({0.5})), "labels must be integers");
  EXPECT_HAS(message(points, segments({{0, 2}}), labels({0})), "no error");

  try {
    parse_center_sample("gauss");
    ADD_FAILURE() << "no error";
  } catch (const Error& e) {
    EXPECT_HAS(e.what(), "train.center_sample: unknown value 'gauss'");
  }
  EXPECT_EQ(parse_center_sample("none"), CenterSample::kNone);
  config::TrainConfig train;
  train.center_sample_radius = 2.5;
  const TargetOptions from = target_options(train, 7);
  EXPECT_EQ(from.num_classes, 7);
  EXPECT_EQ(from.center_sample, CenterSample::kRadius);
  EXPECT_EQ(from.center_sample_radius, 2.5);
}

}  // namespace
}  // namespace asl::model
