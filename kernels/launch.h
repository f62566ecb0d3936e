// The kernels' entry points, on raw float32 arrays. Each exists twice with one signature:
// asl::kernels::cpu (the reference: one loop over the same bodies, always built) and
// asl::kernels::cuda (device pointers, launched on `stream`, a cudaStream_t; built with
// nvcc, see kernels/README.md). The CUDA ones throw asl::Error on a launch failure.
#pragma once

#include <cstdint>

#include "kernels/groups.h"
#include "kernels/local_attention_math.h"

namespace asl::kernels {

// One tensor of the model EMA: average ← decay·average + (1 − decay)·value, n elements.
struct EmaSpan {
  float* average;
  const float* value;
  int64_t n;
};

#define ASL_KERNELS_DECLARE(ns, ...)                                                        \
  namespace ns {                                                                            \
  /* Focal loss with soft targets, element-wise: loss[i] and d loss[i] / d z[i]. */        \
  void focal_loss(const float* z, const float* y, int64_t n, float alpha, float gamma,     \
                  float* loss, float* grad __VA_ARGS__);                                    \
  /* Centre-DIoU of [n, 2] offsets: loss[i] and d loss[i] / d pred[i, :] ([n, 2]). */       \
  void diou_loss(const float* pred, const float* target, int64_t n, float eps, float* loss, \
                 float* grad __VA_ARGS__);                                                  \
  void local_attention_forward(const float* q, const float* k, const float* v,              \
                               const uint8_t* valid, const LocalAttentionShape& shape,      \
                               float* out __VA_ARGS__);                                     \
  /* dq is written; dk and dv are zeroed, then accumulated. */                              \
  void local_attention_backward(const float* q, const float* k, const float* v,             \
                                const uint8_t* valid, const LocalAttentionShape& shape,     \
                                const float* dout, float* dq, float* dk,                    \
                                float* dv __VA_ARGS__);                                     \
  void ema_update(const EmaSpan* spans, int64_t count, float decay,                         \
                  float one_minus_decay __VA_ARGS__);                                       \
  }

ASL_KERNELS_DECLARE(cpu)
ASL_KERNELS_DECLARE(cuda, , void* stream = nullptr)
#undef ASL_KERNELS_DECLARE

namespace cpu {
// NMS of every group; host memory.
void group_nms(const SegmentGroups& groups, const GroupNmsOptions& options,
               GroupNmsResult& result);
}  // namespace cpu

namespace cuda {
// The same on the GPU: copies the groups in, runs one thread block per group, copies back.
void group_nms(const SegmentGroups& groups, const GroupNmsOptions& options,
               GroupNmsResult& result, void* stream = nullptr);
// True when the CUDA runtime sees a device (false without a driver or GPU; never throws).
bool device_available();
}  // namespace cuda

}  // namespace asl::kernels
