#include "train/schedule.h"

#include <cmath>

#include "core/error.h"

namespace asl::train {
namespace {

// Python's a % b for b > 0 (non-negative result).
int64_t py_mod(int64_t a, int64_t b) {
  const int64_t r = a % b;
  return r < 0 ? r + b : r;
}

}  // namespace

LrSchedule::LrSchedule(const config::OptConfig& opt, int64_t iterations_per_epoch)
    : opt_(opt), iterations_per_epoch_(iterations_per_epoch) {
  if (iterations_per_epoch < 1) {
    throw Error("training", "no iterations per epoch", "the training split needs at least one batch");
  }
  if (opt.schedule_type != "cosine") {
    throw Error("opt.schedule_type", opt.schedule_type + " is not implemented", "use cosine");
  }
  if (opt.warmup) {
    warmup_ = opt.warmup_epochs * iterations_per_epoch;
    max_ = (opt.epochs + opt.warmup_epochs) * iterations_per_epoch;
    lr_ = 0.0;  // the constructor's step: last_epoch 0 -> warmup_start_lr
  } else {
    // torch's CosineAnnealingLR(T_max = epochs * iterations, eta_min = 0)
    warmup_ = 0;
    max_ = opt.epochs * iterations_per_epoch;
    eta_min_ = 0.0;
    lr_ = opt.learning_rate;
  }
}

double LrSchedule::next_lr() const {
  const double base = opt_.learning_rate;
  const int64_t e = step_ + 1;  // last_epoch after the step
  const double pi = 3.141592653589793;
  if (opt_.warmup) {
    const int64_t w = warmup_, m = max_;
    if (e < w) return lr_ + (base - 0.0) / static_cast<double>(w - 1);
    if (e == w) return base;
    if (py_mod(e - 1 - m, 2 * (m - w)) == 0) {
      return lr_ + (base - eta_min_) * (1 - std::cos(pi / static_cast<double>(m - w))) / 2;
    }
    return (1 + std::cos(pi * static_cast<double>(e - w) / static_cast<double>(m - w))) /
               (1 + std::cos(pi * static_cast<double>(e - w - 1) / static_cast<double>(m - w))) *
               (lr_ - eta_min_) +
           eta_min_;
  }
  // CosineAnnealingLR's chainable form
  const int64_t t = max_;
  if (py_mod(e - 1 - t, 2 * t) == 0) {
    return lr_ + (base - eta_min_) * (1 - std::cos(pi / static_cast<double>(t))) / 2;
  }
  return (1 + std::cos(pi * static_cast<double>(e) / static_cast<double>(t))) /
             (1 + std::cos(pi * static_cast<double>(e - 1) / static_cast<double>(t))) *
             (lr_ - eta_min_) +
         eta_min_;
}

void LrSchedule::step() {
  lr_ = next_lr();
  ++step_;
}

}  // namespace asl::train
