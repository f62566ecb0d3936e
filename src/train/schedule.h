// The reference's learning-rate schedules, stepped once per iteration
// (libs/utils/lr_schedulers.py): linear warm-up then cosine annealing in the
// chainable form the reference uses, so the per-step values match its float arithmetic.
// Tensor-free.
#pragma once

#include <cstdint>

#include "core/config.h"

namespace asl::train {

class LrSchedule {
 public:
  // base_lr: opt.learning_rate; iterations_per_epoch: batches per epoch (global).
  LrSchedule(const config::OptConfig& opt, int64_t iterations_per_epoch);

  // The rate for the iteration about to run (iteration 0 runs with warmup_start_lr = 0).
  double lr() const { return lr_; }
  int64_t step_count() const { return step_; }
  // Advances to the next iteration (the reference's scheduler.step() after optimizer.step()).
  void step();
  // Restores the state of a checkpoint.
  void restore(int64_t step, double lr) {
    step_ = step;
    lr_ = lr;
  }

  int64_t warmup_steps() const { return warmup_; }
  int64_t max_steps() const { return max_; }

 private:
  double next_lr() const;

  config::OptConfig opt_;
  int64_t warmup_ = 0;  // W
  int64_t max_ = 0;     // M
  int64_t iterations_per_epoch_ = 0;
  double eta_min_ = 1e-8;
  int64_t step_ = 0;
  double lr_ = 0;
};

}  // namespace asl::train
