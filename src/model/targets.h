// Label assignment (rules in docs/model.md; reference: PtTransformer.label_points and
// label_points_single_video). Free functions over tensors, no module state: the network
// owns the Gaussian parameters and hands them in, the training step calls these.
//
// The Gaussian action-sensitivity weights are computed with autograd on: the losses
// multiply by them, so μ and σ learn through the targets. The class and regression
// targets themselves carry no gradient.
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <string>
#include <vector>

#include "core/config.h"

namespace asl::model {

// One Gaussian per class and per role, each tensor [num_classes, 1] (the reference's
// parameter names; init mu 0 / -0.5 / +0.5, sigma 1).
struct ActionSensitivity {
  at::Tensor mu, sigma;                      // classification weight
  at::Tensor mu_reg_left, sigma_reg_left;    // left-boundary weight
  at::Tensor mu_reg_right, sigma_reg_right;  // right-boundary weight
};

enum class CenterSample {
  kRadius,  // a point is inside if within radius·stride of the segment centre (and inside it)
  kNone,    // a point is inside if strictly inside the segment
};

struct TargetOptions {
  int64_t num_classes = 0;
  CenterSample center_sample = CenterSample::kRadius;
  double center_sample_radius = 1.5;
};

// Parses train.center_sample ("radius" | "none"); throws asl::Error naming the key otherwise.
CenterSample parse_center_sample(const std::string& value);

// From the config: train.center_sample, train.center_sample_radius; model.num_classes.
TargetOptions target_options(const config::TrainConfig& train, int64_t num_classes);

// Targets of one video at every point (P = points over all levels, level-major).
struct VideoTargets {
  at::Tensor cls;      // [P, C] multi-hot 0/1, dtype of the points
  at::Tensor reg;      // [P, 2] (t − a, b − t) / stride of the chosen segment
  at::Tensor w_cls;    // [P] Gaussian weights at the chosen segment (carry μ/σ gradients)
  at::Tensor w_left;   // [P]
  at::Tensor w_right;  // [P]
};

// The same, stacked over the videos of a batch: cls [B, P, C], reg [B, P, 2], w_* [B, P].
struct BatchTargets {
  at::Tensor cls, reg, w_cls, w_left, w_right;
};

// Concatenates per-level points [T_l, 4] (t, range lo, range hi, stride) into [P, 4].
at::Tensor concat_points(const std::vector<at::Tensor>& points_per_level);

// One video: points [P, 4], segments [N, 2] (start, end in level-0 grid units, N ≥ 1),
// labels [N] integer in [0, num_classes). For each point, the segments that contain it
// (centre sampling) and whose max(t − a, b − t) lies in [lo, hi] compete; the shortest wins
// (first index on ties); every segment within 1e-3 of that length adds its label.
// Points with no candidate get an all-zero cls row and the targets of segment 0.
// Segments and labels are moved to the points' device. Throws asl::Error on bad shapes,
// labels out of range or N = 0 (label-less videos are dropped from the batch upstream).
VideoTargets label_points_single_video(const at::Tensor& points, const at::Tensor& segments,
                                       const at::Tensor& labels, const ActionSensitivity& gauss,
                                       const TargetOptions& options);

// The batch: per-level points (NetworkOutputs::points) and one (segments, labels) pair per
// video, in batch order.
BatchTargets label_points(const std::vector<at::Tensor>& points_per_level,
                          const std::vector<at::Tensor>& segments,
                          const std::vector<at::Tensor>& labels, const ActionSensitivity& gauss,
                          const TargetOptions& options);

}  // namespace asl::model
