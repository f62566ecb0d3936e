#include "train/step.h"

#include <torch/torch.h>

#include <chrono>

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
      ema_(std::make_unique<ModelEma>(*model_)),
      normalizer_(cfg.train_cfg.init_loss_norm),
      target_options_(model::target_options(cfg.train_cfg, cfg.dataset.num_classes)),
      loss_options_(model::loss_options(cfg.train_cfg, cfg.dataset.num_classes)),
      params_(model_->parameters()) {}

StepResult TrainStep::run(const data::Batch& batch) {
  StepResult r;
  model_->train();
  // zero_grad(set_to_none=True): parameters without a gradient are skipped by AdamW.
  for (auto& p : params_) p.mutable_grad() = at::Tensor();

  auto t0 = std::chrono::steady_clock::now();
  const model::NetworkOutputs out = model_->forward(batch.feats, batch.masks);
  std::vector<at::Tensor> segments, labels;
  for (const auto& item : batch.items) {
    segments.push_back(item.segments);
    labels.push_back(item.labels);
  }
  const model::ActionSensitivity gauss{model_->mu(),          model_->sigma(),
                                       model_->mu_reg_left(),  model_->sigma_reg_left(),
                                       model_->mu_reg_right(), model_->sigma_reg_right()};
  const model::BatchTargets targets = model::label_points(out.points, segments, labels, gauss,
                                                          target_options_);
  const model::LossValues losses =
      model::compute_losses(out, targets, labels, normalizer_, loss_options_);
  r.times.forward_loss = seconds_since(t0);

  t0 = std::chrono::steady_clock::now();
  losses.final_loss.backward();
  r.times.backward = seconds_since(t0);

  t0 = std::chrono::steady_clock::now();
  if (cfg_.train_cfg.clip_grad_l2norm > 0) {
    std::vector<at::Tensor> with_grad;
    for (auto& p : params_) {
      if (p.grad().defined()) with_grad.push_back(p);
    }
    r.grad_norm = torch::nn::utils::clip_grad_norm_(with_grad, cfg_.train_cfg.clip_grad_l2norm);
  }
  r.times.clip = seconds_since(t0);

  t0 = std::chrono::steady_clock::now();
  r.lr = schedule_.lr();
  set_learning_rate(*optimizer_, r.lr);
  optimizer_->step();
  schedule_.step();
  r.times.optimizer = seconds_since(t0);

  t0 = std::chrono::steady_clock::now();
  ema_->update(*model_);
  r.times.ema = seconds_since(t0);

  r.cls_loss = losses.cls_loss.item<double>();
  r.reg_loss = losses.reg_loss.item<double>();
  r.al_loss = losses.al_loss.item<double>();
  r.final_loss = losses.final_loss.item<double>();
  r.num_pos = losses.num_pos;
  r.loss_normalizer = losses.normalizer;
  return r;
}

}  // namespace asl::train
