// The kernels as LibTorch operations with gradients, and their installation as the model's
// hooks (model/kernel_hooks.h). Each operation runs the CPU reference on CPU tensors and
// the CUDA kernel on CUDA tensors (in a build with CUDA kernels), on float32 copies of its
// inputs; results and gradients come back in the inputs' dtypes.
#pragma once

#include <ATen/core/Tensor.h>

#include "kernels/batched_nms.h"

#include <string>
#include <vector>

namespace asl::kernels {

// model::sigmoid_focal_loss, fused: element-wise loss; the gradient is computed with it.
at::Tensor fused_focal_loss(const at::Tensor& logits, const at::Tensor& targets, double alpha,
                            double gamma);
// model::ctr_diou_loss_1d, fused: pred, target [N, 2] -> [N] (offsets must be ≥ 0).
at::Tensor fused_diou_loss(const at::Tensor& pred, const at::Tensor& target, double eps);
// model::local_window_attention without dropout: q_scaled, k, v [B,N,T,D], kv_mask [B,1,T].
at::Tensor fused_local_attention(const at::Tensor& q_scaled, const at::Tensor& k,
                                 const at::Tensor& v, const at::Tensor& kv_mask,
                                 int64_t window_size);
// The model EMA over float32 tensors of one device, one launch on the GPU.
void fused_ema_update(const std::vector<at::Tensor>& averages,
                      const std::vector<at::Tensor>& values, double decay);

// Group NMS on `device`: the CUDA kernel for a CUDA device in a build with kernels, else the
// CPU reference.
GroupNmsFn group_nms_for(const at::Device& device);

// Whether this build has the CUDA kernels.
bool built_with_cuda_kernels();

// Installs the hooks when this build has CUDA kernels, a CUDA device is there and
// ASL_KERNELS is not "off". Returns one line for the log saying what it did and why.
std::string install_cuda_hooks();

}  // namespace asl::kernels
