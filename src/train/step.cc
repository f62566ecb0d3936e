#include "train/step.h"

#include <torch/torch.h>

#include <chrono>
#include <cmath>

#include "cluster/communicator.h"
#include "cluster/gradient_buckets.h"
#include "core/error.h"
#include "train/optimizer.h"

namespace asl::train {
namespace {

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

}  // namespace

TrainStep::TrainStep(const config::Config& cfg, model::PtTransformer model,
                     int64_t iterations_per_epoch)
    : cfg_(cfg),
      model_(std::move(model)),
      optimizer_(make_optimizer(*model_, cfg.opt)),
      schedule_(cfg.opt, iterations_per_epoch),
      ema_(std::make_unique<ModelEma>(*model_, cfg.opt.ema_decay)),
      normalizer_(cfg.train_cfg.init_loss_norm),
      target_options_(model::target_options(cfg.train_cfg, cfg.dataset.num_classes)),
      loss_options_(model::loss_options(cfg.train_cfg, cfg.dataset.num_classes)),
      params_(model_->parameters()),
      device_(params_.empty() ? at::Device(at::kCPU) : params_.front().device()),
      amp_dtype_(amp_dtype(cfg.opt.amp)) {
  if (amp_dtype_ == at::kHalf) {
    if (!device_.is_cuda()) {
      throw Error("opt.amp", "fp16 needs a CUDA device; on the CPU LibTorch autocasts to bfloat16 only",
                  "use opt.amp: bf16 (or off) on the CPU");
    }
    scaler_.emplace();
  }
  if (device_.is_cuda() && cfg.opt.tf32) {
    at::globalContext().setAllowTF32CuBLAS(true);
    at::globalContext().setAllowTF32CuDNN(true);
  }
}

void TrainStep::set_data_parallel(cluster::Communicator* comm, cluster::GradientBuckets* buckets) {
  comm_ = comm;
  buckets_ = buckets;
}

StepResult TrainStep::run(const data::Batch& batch, bool stop_requested) {
  StepResult r;
  const bool parallel = comm_ != nullptr && comm_->size() > 1;
  model_->train();
  // zero_grad(set_to_none=True): parameters without a gradient are skipped by AdamW.
  for (auto& p : params_) p.mutable_grad() = at::Tensor();

  auto t0 = std::chrono::steady_clock::now();
  // The loader's batches are on the CPU; on the CPU these copies are no-ops.
  model::NetworkOutputs out;
  {
    const AutocastScope autocast(device_.type(), amp_dtype_);
    // non_blocking: from the loader's pinned memory the copies overlap the queued work.
    auto to_device = [&](const at::Tensor& t) {
      return t.defined() ? t.to(device_, /*non_blocking=*/true) : t;
    };
    out = model_->forward(to_device(batch.feats), to_device(batch.masks),
                          to_device(batch.query), to_device(batch.query_mask));
  }
  if (amp_dtype_ != at::kFloat) {  // the losses in float32
    for (auto& t : out.cls_logits) t = t.to(at::kFloat);
    for (auto& t : out.offsets) t = t.to(at::kFloat);
  }
  std::vector<at::Tensor> segments, labels;
  for (const auto& item : batch.items) {
    segments.push_back(item.segments.to(device_));
    labels.push_back(item.labels.to(device_));
  }
  const model::ActionSensitivity gauss{model_->mu(),          model_->sigma(),
                                       model_->mu_reg_left(),  model_->sigma_reg_left(),
                                       model_->mu_reg_right(), model_->sigma_reg_right()};
  const model::BatchTargets targets = model::label_points(out.points, segments, labels, gauss,
                                                          target_options_);
  // The normalizer sees the positives of the global batch; the stop request rides along.
  int64_t num_pos = model::count_positives(out, targets);
  r.stop = stop_requested;
  if (parallel) {
    // On the model's device: the NCCL communicator reduces CUDA tensors only.
    at::Tensor counts =
        torch::tensor({num_pos, static_cast<int64_t>(stop_requested)}, at::kLong).to(device_);
    comm_->allreduce(counts, cluster::ReduceOp::Sum);
    num_pos = counts[0].item<int64_t>();
    r.stop = counts[1].item<int64_t>() > 0;
  }
  const double norm = normalizer_.update(num_pos);
  const model::LossValues losses = model::compute_losses(out, targets, labels, norm, loss_options_);
  r.times.forward_loss = seconds_since(t0);

  t0 = std::chrono::steady_clock::now();
  const double loss_scale = scaler_ ? scaler_->scale() : 1.0;
  if (parallel) {
    // Each rank's loss is its share of the global sum; the all-reduce averages, so scale by N.
    (losses.final_loss * (static_cast<double>(comm_->size()) * loss_scale)).backward();
    const auto wait0 = std::chrono::steady_clock::now();
    if (buckets_->hooks_attached()) {
      buckets_->finish();
    } else {
      buckets_->synchronize();
    }
    r.times.allreduce_wait = seconds_since(wait0);
  } else if (scaler_) {
    (losses.final_loss * loss_scale).backward();
  } else {
    losses.final_loss.backward();
  }
  // Gradients are averaged over ranks, so every rank finds the same overflow.
  const bool overflow = scaler_ && !scaler_->unscale(params_);
  r.times.backward = seconds_since(t0);

  // The global losses before the update, so that every rank decides alike on a NaN/Inf.
  at::Tensor values = at::stack({losses.cls_loss.detach(), losses.reg_loss.detach(),
                                 losses.al_loss.detach(), losses.final_loss.detach()})
                          .to(at::kDouble);
  if (parallel) comm_->allreduce(values, cluster::ReduceOp::Sum);
  values = values.to(at::kCPU).contiguous();
  const double* v = values.data_ptr<double>();
  r.cls_loss = v[0];
  r.reg_loss = v[1];
  r.al_loss = v[2];
  r.final_loss = v[3];

  t0 = std::chrono::steady_clock::now();
  if (cfg_.train_cfg.clip_grad_l2norm > 0) {
    std::vector<at::Tensor> with_grad;
    for (auto& p : params_) {
      if (p.grad().defined()) with_grad.push_back(p);
    }
    r.grad_norm = torch::nn::utils::clip_grad_norm_(with_grad, cfg_.train_cfg.clip_grad_l2norm);
  }
  r.times.clip = seconds_since(t0);
  // Gradients are averaged, so the norm is the same on every rank, as is the loss sum.
  r.nonfinite = !std::isfinite(r.final_loss) || (!overflow && !std::isfinite(r.grad_norm));
  r.overflow = overflow && !r.nonfinite;
  const bool update = !r.nonfinite && !r.overflow;
  if (scaler_) scaler_->update(overflow);

  t0 = std::chrono::steady_clock::now();
  r.lr = schedule_.lr();
  if (update) {
    set_learning_rate(*optimizer_, r.lr);
    optimizer_->step();
  }
  schedule_.step();
  r.times.optimizer = seconds_since(t0);

  t0 = std::chrono::steady_clock::now();
  if (update) ema_->update(*model_);
  r.times.ema = seconds_since(t0);

  r.num_pos = num_pos;
  r.loss_normalizer = norm;
  return r;
}

}  // namespace asl::train
