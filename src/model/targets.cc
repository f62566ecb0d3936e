#include "model/targets.h"

#include <ATen/ATen.h>

#include <limits>
#include <tuple>

#include "core/error.h"

namespace asl::model {
namespace {

constexpr char kWhere[] = "label_points";

std::string shape_of(const at::Tensor& t) {
  std::string s = "[";
  for (int64_t d = 0; d < t.dim(); ++d) s += (d ? ", " : "") + std::to_string(t.size(d));
  return s + "]";
}

void check_inputs(const at::Tensor& points, const at::Tensor& segments, const at::Tensor& labels,
                  int64_t num_classes) {
  if (num_classes <= 0) throw Error(kWhere, "num_classes must be positive");
  if (points.dim() != 2 || points.size(1) != 4)
    throw Error(kWhere, "points must be [P, 4] (t, lo, hi, stride), got " + shape_of(points));
  if (segments.dim() != 2 || segments.size(1) != 2)
    throw Error(kWhere, "segments must be [N, 2], got " + shape_of(segments));
  if (labels.dim() != 1 || labels.size(0) != segments.size(0))
    throw Error(kWhere, "labels must be [N] with N = " + std::to_string(segments.size(0)) +
                            " segments, got " + shape_of(labels));
  if (segments.size(0) == 0)
    throw Error(kWhere, "a video without ground-truth segments",
                "drop label-less videos from the batch, as the reference does");
  if (at::isFloatingType(labels.scalar_type()) || labels.scalar_type() == at::kBool)
    throw Error(kWhere, "labels must be integers, got " + std::string(c10::toString(labels.scalar_type())));
  const int64_t lo = labels.min().item<int64_t>(), hi = labels.max().item<int64_t>();
  if (lo < 0 || hi >= num_classes)
    throw Error(kWhere, "label " + std::to_string(lo < 0 ? lo : hi) + " outside [0, " +
                            std::to_string(num_classes) + ")",
                "check dataset.num_classes against the annotations");
}

// exp(−(x − μ_y)² / (2 σ_y²)) for every (point, segment): x [P, N], μ/σ [C, 1], labels [N].
at::Tensor gaussian(const at::Tensor& x, const at::Tensor& mu, const at::Tensor& sigma,
                    const at::Tensor& labels) {
  const at::Tensor m = mu.index_select(0, labels).permute({1, 0});     // [1, N]
  const at::Tensor s = sigma.index_select(0, labels).permute({1, 0});  // [1, N]
  return (-(x - m).pow(2) / (s.pow(2) * 2)).exp();
}

// rows[p] = values[p, index[p]] for values [P, N] (or [P, N, 2]).
at::Tensor pick(const at::Tensor& values, const at::Tensor& index) {
  if (values.dim() == 2) return values.gather(1, index.unsqueeze(1)).squeeze(1);
  return values.gather(1, index.view({-1, 1, 1}).expand({-1, 1, values.size(2)})).squeeze(1);
}

}  // namespace

CenterSample parse_center_sample(const std::string& value) {
  if (value == "radius") return CenterSample::kRadius;
  if (value == "none") return CenterSample::kNone;
  throw Error("train.center_sample", "unknown value '" + value + "'", "use radius or none");
}

TargetOptions target_options(const config::TrainConfig& train, int64_t num_classes) {
  TargetOptions o;
  o.num_classes = num_classes;
  o.center_sample = parse_center_sample(train.center_sample);
  o.center_sample_radius = train.center_sample_radius;
  return o;
}

at::Tensor concat_points(const std::vector<at::Tensor>& points_per_level) {
  if (points_per_level.empty()) throw Error(kWhere, "no pyramid levels");
  return at::cat(points_per_level, 0);
}

VideoTargets label_points_single_video(const at::Tensor& points, const at::Tensor& segments_in,
                                       const at::Tensor& labels_in, const ActionSensitivity& gauss,
                                       const TargetOptions& options) {
  check_inputs(points, segments_in, labels_in, options.num_classes);
  const at::Tensor segments = segments_in.to(points.device());
  const at::Tensor labels = labels_in.to(points.device(), at::kLong);
  const int64_t num_pts = points.size(0), num_gts = segments.size(0);
  constexpr double kInf = std::numeric_limits<double>::infinity();

  // Everything is [P, N] (point × segment) by broadcasting [P, 1] against [1, N].
  const at::Tensor t = points.select(1, 0).unsqueeze(1);
  const at::Tensor range_lo = points.select(1, 1).unsqueeze(1);
  const at::Tensor range_hi = points.select(1, 2).unsqueeze(1);
  const at::Tensor stride = points.select(1, 3).unsqueeze(1);
  const at::Tensor seg_a = segments.select(1, 0).unsqueeze(0);
  const at::Tensor seg_b = segments.select(1, 1).unsqueeze(0);

  at::Tensor lens = (seg_b - seg_a).expand({num_pts, num_gts}).clone();
  const at::Tensor left = t - seg_a;
  const at::Tensor right = seg_b - t;

  // Signed distance to the centre in units of stride · length, computed in the reference's
  // order ((right − left) / 2, then / (stride · len)) so float32 values agree bit for bit.
  const at::Tensor x = ((right - left) / 2.0) / (stride * lens);
  at::Tensor w_cls = gaussian(x, gauss.mu, gauss.sigma, labels);
  at::Tensor w_left = gaussian(x, gauss.mu_reg_left, gauss.sigma_reg_left, labels);
  at::Tensor w_right = gaussian(x, gauss.mu_reg_right, gauss.sigma_reg_right, labels);

  at::Tensor inside;
  if (options.center_sample == CenterSample::kRadius) {
    const at::Tensor center = (seg_a + seg_b) * 0.5;
    const at::Tensor t_min = center - stride * options.center_sample_radius;
    const at::Tensor t_max = center + stride * options.center_sample_radius;
    const at::Tensor dist_left = t - at::maximum(t_min, seg_a);
    const at::Tensor dist_right = at::minimum(t_max, seg_b) - t;
    inside = at::minimum(dist_left, dist_right) > 0;
  } else {
    inside = at::minimum(left, right) > 0;
  }
  const at::Tensor max_dist = at::maximum(left, right);
  const at::Tensor in_range = (max_dist >= range_lo).logical_and(max_dist <= range_hi);

  // Among the candidates, the shortest segment wins; ties within 1e-3 share the point.
  lens.masked_fill_(inside.logical_not(), kInf);
  lens.masked_fill_(in_range.logical_not(), kInf);
  at::Tensor min_len, min_idx;
  std::tie(min_len, min_idx) = lens.min(1);  // first index on ties
  const at::Tensor min_len_mask =
      (lens <= min_len.unsqueeze(1) + 1e-3).logical_and(lens < kInf).to(left.scalar_type());
  const at::Tensor one_hot = at::one_hot(labels, options.num_classes).to(left.scalar_type());
  const at::Tensor cls = min_len_mask.matmul(one_hot).clamp_(0.0, 1.0);

  const at::Tensor reg = pick(at::stack({left, right}, -1), min_idx) / stride;
  return VideoTargets{cls.detach(), reg.detach(), pick(w_cls, min_idx), pick(w_left, min_idx),
                      pick(w_right, min_idx)};
}

BatchTargets label_points(const std::vector<at::Tensor>& points_per_level,
                          const std::vector<at::Tensor>& segments,
                          const std::vector<at::Tensor>& labels, const ActionSensitivity& gauss,
                          const TargetOptions& options) {
  if (segments.size() != labels.size())
    throw Error(kWhere, std::to_string(segments.size()) + " segment lists but " +
                            std::to_string(labels.size()) + " label lists");
  if (segments.empty()) throw Error(kWhere, "empty batch");
  const at::Tensor points = concat_points(points_per_level);
  std::vector<at::Tensor> cls, reg, w_cls, w_left, w_right;
  for (size_t i = 0; i < segments.size(); ++i) {
    VideoTargets v = label_points_single_video(points, segments[i], labels[i], gauss, options);
    cls.push_back(v.cls);
    reg.push_back(v.reg);
    w_cls.push_back(v.w_cls);
    w_left.push_back(v.w_left);
    w_right.push_back(v.w_right);
  }
  return BatchTargets{at::stack(cls), at::stack(reg), at::stack(w_cls), at::stack(w_left),
                      at::stack(w_right)};
}

}  // namespace asl::model
