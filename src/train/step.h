// One training iteration as the reference runs it (train.py / train_one_epoch):
// grads to none -> forward -> targets -> losses -> backward -> global L2 clipping ->
// AdamW step with the scheduled rate -> schedule step -> EMA update. Times each part.
#pragma once

#include <torch/optim/adamw.h>

#include <memory>
#include <optional>

#include "core/config.h"
#include "data/loader.h"
#include "model/asl_model.h"
#include "model/losses.h"
#include "model/targets.h"
#include "train/ema.h"
#include "train/precision.h"
#include "train/schedule.h"

namespace asl::cluster {
class Communicator;
class GradientBuckets;
}  // namespace asl::cluster

namespace asl::train {

struct StepTimes {
  double forward_loss = 0;  // network, targets, losses
  double backward = 0;       // the all-reduce wait included
  double allreduce_wait = 0; // after the backward pass, waiting for the gradient buckets
  double clip = 0;
  double optimizer = 0;     // AdamW and the schedule
  double ema = 0;
  double total() const { return forward_loss + backward + clip + optimizer + ema; }
};

struct StepResult {
  double cls_loss = 0, reg_loss = 0, al_loss = 0, final_loss = 0;
  double grad_norm = 0;
  double lr = 0;             // the rate this step ran with
  int64_t num_pos = 0;        // over all ranks
  double loss_normalizer = 0;
  bool stop = false;          // some rank asked to stop (run()'s stop_requested, agreed by all)
  // The loss or the gradient norm was NaN/Inf (the same on every rank: both are global);
  // the update was skipped (train_cfg.on_nonfinite).
  bool nonfinite = false;
  // opt.amp fp16: the gradients overflowed at this loss scale; the update was skipped and the
  // scale halved (not a NaN/Inf of the loss: train_cfg.on_nonfinite does not apply).
  bool overflow = false;
  StepTimes times;            // backward includes the gradient all-reduce
};

class TrainStep {
 public:
  TrainStep(const config::Config& cfg, model::PtTransformer model, int64_t iterations_per_epoch);

  // Runs one iteration on a training batch (feats/masks padded, items with segments).
  // stop_requested: this rank wants the job to stop after this step (a signal); the result's
  // `stop` is the agreement of every rank.
  StepResult run(const data::Batch& batch, bool stop_requested = false);

  // Data-parallel training (docs/cluster.md), set before the first step: the positive
  // count is summed over ranks before the normalizer update, every rank's loss is scaled by
  // the world size and the gradients averaged through `buckets` (started from gradient hooks
  // during backward when they are attached), so N ranks of batch b train as one process of
  // batch N·b. The reported losses are sums over ranks, as one process would compute them.
  void set_data_parallel(cluster::Communicator* comm, cluster::GradientBuckets* buckets);

  model::PtTransformer& model() { return model_; }
  ModelEma& ema() { return *ema_; }
  LrSchedule& schedule() { return schedule_; }
  model::LossNormalizer& normalizer() { return normalizer_; }
  torch::optim::AdamW& optimizer() { return *optimizer_; }

 private:
  config::Config cfg_;
  model::PtTransformer model_;
  std::unique_ptr<torch::optim::AdamW> optimizer_;
  LrSchedule schedule_;
  std::unique_ptr<ModelEma> ema_;
  model::LossNormalizer normalizer_;
  model::TargetOptions target_options_;
  model::LossOptions loss_options_;
  std::vector<at::Tensor> params_;
  at::Device device_;  // the model's: batches go there, loss values come back to the CPU
  at::ScalarType amp_dtype_;           // Float: no autocast
  std::optional<LossScaler> scaler_;   // opt.amp fp16 only
  cluster::Communicator* comm_ = nullptr;
  cluster::GradientBuckets* buckets_ = nullptr;
};

}  // namespace asl::train
