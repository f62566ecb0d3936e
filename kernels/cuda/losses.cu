// Fused focal and centre-DIoU losses: one pass writes each element's loss and its gradient,
// so the backward is one multiplication by the incoming gradient.
#include "kernels/cuda/check.cuh"
#include "kernels/launch.h"
#include "kernels/loss_math.h"

namespace asl::kernels::cuda {
namespace {

__global__ void focal_kernel(const float* z, const float* y, int64_t n, float alpha,
                             float gamma, float* loss, float* grad) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n;
       i += int64_t(gridDim.x) * blockDim.x) {
    const FocalTerms<float> t = focal_terms(z[i], y[i], alpha, gamma);
    loss[i] = t.loss;
    grad[i] = t.grad;
  }
}

__global__ void diou_kernel(const float* pred, const float* target, int64_t n, float eps,
                            float* loss, float* grad) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n;
       i += int64_t(gridDim.x) * blockDim.x) {
    const DiouTerms<float> t =
        diou_terms(pred[2 * i], pred[2 * i + 1], target[2 * i], target[2 * i + 1], eps);
    loss[i] = t.loss;
    grad[2 * i] = t.grad_left;
    grad[2 * i + 1] = t.grad_right;
  }
}

}  // namespace

void focal_loss(const float* z, const float* y, int64_t n, float alpha, float gamma,
                float* loss, float* grad, void* stream) {
  if (n == 0) return;
  focal_kernel<<<blocks_for(n), kThreads, 0, as_stream(stream)>>>(z, y, n, alpha, gamma, loss,
                                                                   grad);
  check_launch("focal_loss");
}

void diou_loss(const float* pred, const float* target, int64_t n, float eps, float* loss,
               float* grad, void* stream) {
  if (n == 0) return;
  diou_kernel<<<blocks_for(n), kThreads, 0, as_stream(stream)>>>(pred, target, n, eps, loss,
                                                                  grad);
  check_launch("diou_loss");
}

}  // namespace asl::kernels::cuda
