// Where fused kernels plug in. The model, losses, EMA and NMS call a hook only for CUDA
// tensors and only when one is installed (kernels/torch_bridge.h installs them in a CUDA
// build); everything else keeps its LibTorch formulation, the one checked against the
// reference. A process sets the hooks once, before any work; ASL_KERNELS=off leaves them out.
#pragma once

#include <ATen/core/Tensor.h>

#include <functional>
#include <string>
#include <vector>

namespace asl::infer {
struct Segment;
struct NmsOptions;
}  // namespace asl::infer

namespace asl::model {

struct KernelHooks {
  // sigmoid_focal_loss(logits, targets, alpha, gamma), element-wise, float32 result.
  std::function<at::Tensor(const at::Tensor&, const at::Tensor&, double, double)> focal_loss;
  // ctr_diou_loss_1d(pred [N,2], target [N,2], eps) -> [N].
  std::function<at::Tensor(const at::Tensor&, const at::Tensor&, double)> diou_loss;
  // Local-window attention: q already scaled, [B,N,T,D]; kv_mask [B,1,T] bool; window 2w+1.
  std::function<at::Tensor(const at::Tensor&, const at::Tensor&, const at::Tensor&,
                           const at::Tensor&, int64_t)>
      local_attention;
  // The model EMA: averages[i] <- decay·averages[i] + (1 − decay)·values[i], in place.
  std::function<void(const std::vector<at::Tensor>&, const std::vector<at::Tensor>&, double)>
      ema_update;
  // Multi-class NMS of a whole evaluation batch (one candidate list per clip).
  std::function<std::vector<std::vector<infer::Segment>>(
      const std::vector<std::vector<infer::Segment>>&, const infer::NmsOptions&)>
      batched_nms;
  // One line for the log: which kernels are in use and why (set by whoever installs them).
  std::string status = "fused CUDA kernels: not installed";
};

// The process's hooks (all empty unless a kernel library installed them).
KernelHooks& kernel_hooks();

}  // namespace asl::model
