// Mixed precision for the training step (opt.amp): the forward pass under LibTorch's
// autocast, and for float16 a dynamic loss scale. Parameters, optimizer state, gradients
// and checkpoints stay float32; the losses are computed in float32 from the network's
// outputs cast back.
#pragma once

#include <ATen/core/Tensor.h>
#include <c10/core/Device.h>

#include <cstdint>
#include <string>
#include <vector>

namespace asl::train {

// "off" | "bf16" | "fp16" -> the autocast type (Float for off).
at::ScalarType amp_dtype(const std::string& amp);

// Autocast of `device_type`'s operations to `dtype` while alive (nothing when dtype is
// Float). Restores the previous autocast state and clears autocast's weight cache on exit.
class AutocastScope {
 public:
  AutocastScope(c10::DeviceType device_type, at::ScalarType dtype);
  ~AutocastScope();
  AutocastScope(const AutocastScope&) = delete;
  AutocastScope& operator=(const AutocastScope&) = delete;

 private:
  c10::DeviceType device_type_;
  bool active_ = false;
  bool was_enabled_ = false;
  at::ScalarType previous_dtype_ = at::ScalarType::Float;
};

// Dynamic loss scaling for float16, as torch.cuda.amp.GradScaler does it: the loss is
// multiplied by the scale before backward; the gradients are divided by it before clipping;
// a step whose gradients hold Inf/NaN is skipped and halves the scale; `growth_interval`
// steps in a row without one double it.
class LossScaler {
 public:
  explicit LossScaler(double initial_scale = 65536.0, int64_t growth_interval = 2000)
      : scale_(initial_scale), growth_interval_(growth_interval) {}

  double scale() const { return scale_; }
  // Divides every defined gradient by the scale in place; true when all are finite.
  bool unscale(const std::vector<at::Tensor>& params) const;
  // After a step: found_inf halves the scale, else counts toward growth.
  void update(bool found_inf);

 private:
  double scale_;
  int64_t growth_interval_;
  int64_t good_steps_ = 0;
};

}  // namespace asl::train
