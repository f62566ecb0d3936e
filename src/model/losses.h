// The training losses (formulas in docs/model.md; reference: PtTransformer.losses, losses.py
// sigmoid_focal_loss and ctr_diou_loss_1d). Free functions over tensors; the only state,
// the loss normalizer, is a small value type the caller keeps across iterations.
//
// Two ways to call:
//  - single process, as the reference:  compute_losses(out, targets, labels, normalizer, opts)
//    counts the positives, updates the normalizer, then computes the losses;
//  - several processes: n = count_positives(out, targets); all-reduce n;
//    normalizer.update(n_global); compute_losses(out, targets, labels, normalizer.value(), opts).
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <vector>

#include "core/config.h"
#include "model/outputs.h"
#include "model/targets.h"

namespace asl::model {

// norm ← momentum·norm + (1 − momentum)·max(N, 1), updated before use; a plain double
// (the reference keeps a Python float, not saved in checkpoints).
class LossNormalizer {
 public:
  explicit LossNormalizer(double init_loss_norm, double momentum = 0.9)
      : value_(init_loss_norm), momentum_(momentum) {}

  // N: positive points in the batch (global over processes when training distributed).
  // Returns the new value.
  double update(int64_t num_positives);
  double value() const { return value_; }

 private:
  double value_;
  double momentum_;
};

struct LossOptions {
  int64_t num_classes = 0;
  double loss_weight = 1.0;      // > 0: reg weight; <= 0: cls.detach() / max(reg, 0.01)
  double al_loss_weight = 0.0;   // baseline 0.2
  double label_smoothing = 0.0;  // cls targets y·(1 − ls) + ls / (C + 1)
  double focal_alpha = 0.25;
  double focal_gamma = 2.0;
};

// From the config: train.loss_weight, al_loss_weight, label_smoothing; model.num_classes.
LossOptions loss_options(const config::TrainConfig& train, int64_t num_classes);

struct LossValues {
  at::Tensor cls_loss;    // 0-dim
  at::Tensor reg_loss;    // 0-dim (0·Σ offsets when this batch has no positives)
  at::Tensor al_loss;     // 0-dim
  at::Tensor final_loss;  // cls + loss_weight·reg + al_loss_weight·al
  int64_t num_pos = 0;    // positives in this batch (local)
  double normalizer = 0;  // the value the losses were divided by
};

// Element-wise sigmoid focal loss (RetinaNet), no reduction:
// α_t·(1 − p_t)^γ·BCEWithLogits(z, y). Half/bfloat16 inputs are computed in float32.
at::Tensor sigmoid_focal_loss(const at::Tensor& logits, const at::Tensor& targets,
                              double alpha = 0.25, double gamma = 2.0);

// Centre-DIoU loss of 1-D offsets (left, right) ≥ 0 around a shared centre: pred, target
// [N, 2] → [N]. 1 − IoU + (centre distance / enclosing length)². Throws asl::Error on a
// negative offset (the reference asserts).
at::Tensor ctr_diou_loss_1d(const at::Tensor& pred, const at::Tensor& target, double eps = 1e-8);

// Video-level action-label loss, not yet divided by the normalizer: per video, per class the
// max over points of softmax-over-classes (padded points' logits set to −1e7, i.e. 1/C),
// BCE against the video's label set, summed. logits [B, P, C], valid [B, P] bool,
// labels: one integer tensor per video. No clamping: a probability of exactly 0 or 1 on the
// wrong side gives inf, as in the reference. With one class the loss is 0 (the softmax is 1).
at::Tensor action_label_loss(const at::Tensor& logits, const at::Tensor& valid,
                             const std::vector<at::Tensor>& labels);

// Concatenated level masks [B, P] (bool).
at::Tensor valid_mask(const NetworkOutputs& outputs);
// Points with at least one class target that are valid [B, P] (bool).
at::Tensor positive_mask(const NetworkOutputs& outputs, const BatchTargets& targets);
// |positive_mask|: what the normalizer update takes (all-reduce it for a global count).
int64_t count_positives(const NetworkOutputs& outputs, const BatchTargets& targets);

// All losses with an already updated normalizer. labels: one tensor per video (batch order,
// as passed to label_points).
LossValues compute_losses(const NetworkOutputs& outputs, const BatchTargets& targets,
                          const std::vector<at::Tensor>& labels, double normalizer,
                          const LossOptions& options);

// The reference's single-process path: counts this batch's positives, updates `normalizer`,
// then computes the losses with it.
LossValues compute_losses(const NetworkOutputs& outputs, const BatchTargets& targets,
                          const std::vector<at::Tensor>& labels, LossNormalizer& normalizer,
                          const LossOptions& options);

}  // namespace asl::model
