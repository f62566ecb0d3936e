#include "model/losses.h"

#include <ATen/ATen.h>
#include <ATen/TensorIndexing.h>

#include <algorithm>
#include <string>

#include "core/error.h"
#include "model/kernel_hooks.h"

namespace asl::model {
namespace {

constexpr char kWhere[] = "losses";

// The reference computes these losses in float32 (`.float()`); double stays double so
// gradient checks can run in double precision.
at::Tensor at_least_float(const at::Tensor& t) {
  const at::ScalarType type = t.scalar_type();
  return type == at::kHalf || type == at::kBFloat16 ? t.to(at::kFloat) : t;
}

void check_batch(const NetworkOutputs& outputs, const BatchTargets& targets,
                 const std::vector<at::Tensor>* labels) {
  const size_t levels = outputs.masks.size();
  if (levels == 0 || outputs.cls_logits.size() != levels || outputs.offsets.size() != levels)
    throw Error(kWhere, "outputs need the same, non-zero number of levels for cls_logits (" +
                            std::to_string(outputs.cls_logits.size()) + "), offsets (" +
                            std::to_string(outputs.offsets.size()) + ") and masks (" +
                            std::to_string(levels) + ")");
  const int64_t batch = outputs.masks[0].size(0);
  if (!targets.cls.defined() || targets.cls.size(0) != batch)
    throw Error(kWhere, "targets are for " +
                            std::to_string(targets.cls.defined() ? targets.cls.size(0) : 0) +
                            " videos, outputs for " + std::to_string(batch));
  if (labels && static_cast<int64_t>(labels->size()) != batch)
    throw Error(kWhere, std::to_string(labels->size()) + " label lists for a batch of " +
                            std::to_string(batch) + " videos");
}

}  // namespace

double LossNormalizer::update(int64_t num_positives) {
  value_ = momentum_ * value_ + (1 - momentum_) * static_cast<double>(std::max<int64_t>(num_positives, 1));
  return value_;
}

LossOptions loss_options(const config::TrainConfig& train, int64_t num_classes) {
  LossOptions o;
  o.num_classes = num_classes;
  o.loss_weight = train.loss_weight;
  o.al_loss_weight = train.al_loss_weight;
  o.label_smoothing = train.label_smoothing;
  return o;
}

at::Tensor sigmoid_focal_loss(const at::Tensor& logits_in, const at::Tensor& targets_in,
                              double alpha, double gamma) {
  if (logits_in.is_cuda() && kernel_hooks().focal_loss)
    return kernel_hooks().focal_loss(logits_in, targets_in, alpha, gamma);
  const at::Tensor z = at_least_float(logits_in);
  const at::Tensor y = targets_in.to(z.scalar_type());
  const at::Tensor p = at::sigmoid(z);
  const at::Tensor ce = at::binary_cross_entropy_with_logits(z, y, {}, {}, at::Reduction::None);
  const at::Tensor p_t = p * y + (1 - p) * (1 - y);
  at::Tensor loss = ce * (1 - p_t).pow(gamma);
  if (alpha >= 0) {
    const at::Tensor alpha_t = y * alpha + (1 - y) * (1 - alpha);
    loss = alpha_t * loss;
  }
  return loss;
}

at::Tensor ctr_diou_loss_1d(const at::Tensor& pred_in, const at::Tensor& target_in, double eps) {
  const at::Tensor pred = at_least_float(pred_in);
  const at::Tensor target = target_in.to(pred.scalar_type());
  if (pred.dim() != 2 || pred.size(1) != 2 || !pred.sizes().equals(target.sizes()))
    throw Error("ctr_diou_loss_1d", "offsets must both be [N, 2]");
  if ((pred < 0).any().item<bool>())
    throw Error("ctr_diou_loss_1d", "predicted offsets must be non-negative");
  if ((target < 0).any().item<bool>())
    throw Error("ctr_diou_loss_1d", "target offsets must be non-negative");
  if (pred.is_cuda() && kernel_hooks().diou_loss) return kernel_hooks().diou_loss(pred, target, eps);
  const at::Tensor lp = pred.select(1, 0), rp = pred.select(1, 1);
  const at::Tensor lg = target.select(1, 0), rg = target.select(1, 1);

  const at::Tensor inter = at::minimum(rp, rg) + at::minimum(lp, lg);
  const at::Tensor uni = (lp + rp) + (lg + rg) - inter;
  const at::Tensor iou = inter / uni.clamp_min(eps);
  const at::Tensor enclosing = at::maximum(lp, lg) + at::maximum(rp, rg);
  const at::Tensor rho = (rp - lp - rg + lg) * 0.5;  // distance between the centres
  return 1.0 - iou + (rho / enclosing.clamp_min(eps)).square();
}

at::Tensor action_label_loss(const at::Tensor& logits, const at::Tensor& valid,
                             const std::vector<at::Tensor>& labels) {
  if (logits.dim() != 3 || valid.dim() != 2 || logits.size(0) != valid.size(0) ||
      logits.size(1) != valid.size(1))
    throw Error("al_loss", "logits must be [B, P, C] and the mask [B, P]");
  if (static_cast<int64_t>(labels.size()) != logits.size(0))
    throw Error("al_loss", std::to_string(labels.size()) + " label lists for a batch of " +
                               std::to_string(logits.size(0)) + " videos");
  // One class (NLQ's answer): the softmax is 1 everywhere and the loss 0; the formula would
  // give 0·log 0 = NaN for the absent-label term.
  if (logits.size(2) == 1) return at::zeros({}, logits.options());
  // Padded points get −1e7 on every class: their softmax is exactly uniform (1/C) and still
  // takes part in the max, as in the reference.
  const at::Tensor z = logits.masked_fill(valid.logical_not().unsqueeze(-1), -1e7);
  const at::Tensor q = std::get<0>(z.softmax(-1).max(1));  // [B, C]
  at::Tensor u = at::zeros_like(q);
  for (size_t b = 0; b < labels.size(); ++b)
    u.select(0, static_cast<int64_t>(b)).index_fill_(0, labels[b].to(q.device(), at::kLong), 1.0);
  return ((-u) * q.log() - (1 - u) * (1 - q).log()).sum();
}

at::Tensor valid_mask(const NetworkOutputs& outputs) {
  if (outputs.masks.empty()) throw Error(kWhere, "outputs have no levels");
  return at::cat(outputs.masks, 1).to(at::kBool);
}

at::Tensor positive_mask(const NetworkOutputs& outputs, const BatchTargets& targets) {
  check_batch(outputs, targets, nullptr);
  return (targets.cls.sum(-1) > 0).logical_and(valid_mask(outputs));
}

int64_t count_positives(const NetworkOutputs& outputs, const BatchTargets& targets) {
  return positive_mask(outputs, targets).sum().item<int64_t>();
}

LossValues compute_losses(const NetworkOutputs& outputs, const BatchTargets& targets,
                          const std::vector<at::Tensor>& labels, double normalizer,
                          const LossOptions& options) {
  using at::indexing::TensorIndex;
  check_batch(outputs, targets, &labels);
  const at::Tensor valid = valid_mask(outputs);
  const at::Tensor pos = (targets.cls.sum(-1) > 0).logical_and(valid);
  const at::Tensor logits = at::cat(outputs.cls_logits, 1);  // [B, P, C]
  const at::Tensor offsets = at::cat(outputs.offsets, 1);    // [B, P, 2]
  if (logits.size(1) != valid.size(1) || targets.cls.size(1) != valid.size(1))
    throw Error(kWhere, "points disagree: logits " + std::to_string(logits.size(1)) +
                            ", masks " + std::to_string(valid.size(1)) + ", targets " +
                            std::to_string(targets.cls.size(1)));

  LossValues r;
  r.num_pos = pos.sum().item<int64_t>();
  r.normalizer = normalizer;

  // 1. Classification: focal loss at every valid point, weighted by w_cls at positives.
  at::Tensor cls_target = targets.cls.index({TensorIndex(valid)});
  if (options.label_smoothing != 0) {
    cls_target = cls_target * (1 - options.label_smoothing) +
                 options.label_smoothing / static_cast<double>(options.num_classes + 1);
  }
  const at::Tensor w_cls = targets.w_cls.masked_fill(pos.logical_not(), 1.0);
  at::Tensor cls_loss = sigmoid_focal_loss(logits.index({TensorIndex(valid)}), cls_target,
                                           options.focal_alpha, options.focal_gamma)
                            .sum(-1);
  cls_loss = (cls_loss * w_cls.index({TensorIndex(valid)})).sum() / normalizer;

  // 2. Video-level action labels.
  const at::Tensor al_loss = action_label_loss(logits, valid, labels) / normalizer;

  // 3. Regression at positives, weighted by the mean boundary weight times w_cls.
  const at::Tensor pred_offsets = offsets.index({TensorIndex(pos)});
  at::Tensor reg_loss;
  if (r.num_pos == 0) {
    reg_loss = pred_offsets.sum() * 0;  // keeps the graph (and zero gradients) alive
  } else {
    reg_loss = ctr_diou_loss_1d(pred_offsets, targets.reg.index({TensorIndex(pos)}));
    const at::Tensor w_left = targets.w_left.index({TensorIndex(pos)});
    const at::Tensor w_right = targets.w_right.index({TensorIndex(pos)});
    reg_loss = reg_loss * ((w_left + w_right) / 2.0);
    reg_loss = reg_loss * w_cls.index({TensorIndex(pos)});
    reg_loss = reg_loss.sum() / normalizer;
  }

  if (options.loss_weight > 0) {
    r.final_loss = cls_loss + reg_loss * options.loss_weight + al_loss * options.al_loss_weight;
  } else {
    const at::Tensor weight =
        cls_loss.detach() / std::max(reg_loss.item<double>(), 0.01);
    r.final_loss = cls_loss + reg_loss * weight + al_loss * options.al_loss_weight;
  }
  r.cls_loss = cls_loss;
  r.reg_loss = reg_loss;
  r.al_loss = al_loss;
  return r;
}

LossValues compute_losses(const NetworkOutputs& outputs, const BatchTargets& targets,
                          const std::vector<at::Tensor>& labels, LossNormalizer& normalizer,
                          const LossOptions& options) {
  const double norm = normalizer.update(count_positives(outputs, targets));
  return compute_losses(outputs, targets, labels, norm, options);
}

}  // namespace asl::model
