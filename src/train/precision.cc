#include "train/precision.h"

#include <ATen/autocast_mode.h>
#include <torch/torch.h>

#include "core/error.h"

namespace asl::train {

at::ScalarType amp_dtype(const std::string& amp) {
  if (amp == "bf16") return at::kBFloat16;
  if (amp == "fp16") return at::kHalf;
  if (amp == "off") return at::kFloat;
  throw Error("opt.amp", "'" + amp + "' is not one of off, bf16, fp16");
}

AutocastScope::AutocastScope(c10::DeviceType device_type, at::ScalarType dtype)
    : device_type_(device_type) {
  if (dtype == at::kFloat) return;
  active_ = true;
  if (device_type_ == c10::DeviceType::CUDA) {
    was_enabled_ = at::autocast::is_enabled();
    previous_dtype_ = at::autocast::get_autocast_gpu_dtype();
    at::autocast::set_autocast_gpu_dtype(dtype);
    at::autocast::set_enabled(true);
  } else {
    was_enabled_ = at::autocast::is_cpu_enabled();
    previous_dtype_ = at::autocast::get_autocast_cpu_dtype();
    at::autocast::set_autocast_cpu_dtype(dtype);
    at::autocast::set_cpu_enabled(true);
  }
  at::autocast::increment_nesting();
}

AutocastScope::~AutocastScope() {
  if (!active_) return;
  if (at::autocast::decrement_nesting() == 0) at::autocast::clear_cache();
  if (device_type_ == c10::DeviceType::CUDA) {
    at::autocast::set_enabled(was_enabled_);
    at::autocast::set_autocast_gpu_dtype(previous_dtype_);
  } else {
    at::autocast::set_cpu_enabled(was_enabled_);
    at::autocast::set_autocast_cpu_dtype(previous_dtype_);
  }
}

bool LossScaler::unscale(const std::vector<at::Tensor>& params) const {
  torch::NoGradGuard no_grad;
  const double inverse = 1.0 / scale_;
  at::Tensor bad;  // count of non-finite values, on the gradients' device: one sync at the end
  for (const auto& p : params) {
    at::Tensor g = p.grad();
    if (!g.defined()) continue;
    g.mul_(inverse);
    const at::Tensor n = g.isfinite().logical_not().sum();
    bad = bad.defined() ? bad + n : n;
  }
  return !bad.defined() || bad.item<int64_t>() == 0;
}

void LossScaler::update(bool found_inf) {
  if (found_inf) {
    scale_ *= 0.5;
    good_steps_ = 0;
    return;
  }
  if (++good_steps_ == growth_interval_) {
    scale_ *= 2.0;
    good_steps_ = 0;
  }
}

}  // namespace asl::train
