// Local-window attention: one thread per query row (band ≤ 129 keys), the backward
// accumulating the keys' gradients with atomicAdd.
#include "kernels/cuda/check.cuh"
#include "kernels/launch.h"

namespace asl::kernels::cuda {
namespace {

__global__ void forward_kernel(const float* q, const float* k, const float* v,
                               const uint8_t* valid, LocalAttentionShape s, float* out) {
  const int64_t rows = s.batch * s.heads * s.length;
  for (int64_t r = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; r < rows;
       r += int64_t(gridDim.x) * blockDim.x) {
    const int64_t head = r / s.length, t = r % s.length, b = head / s.heads;
    const int64_t off = head * s.length * s.dim;
    local_attention_row(q + off, k + off, v + off, valid + b * s.length, s, t, out + off);
  }
}

struct AtomicAdd {
  __device__ void operator()(float* where, float value) const { atomicAdd(where, value); }
};

__global__ void backward_kernel(const float* q, const float* k, const float* v,
                                const uint8_t* valid, LocalAttentionShape s, const float* dout,
                                float* dq, float* dk, float* dv) {
  const int64_t rows = s.batch * s.heads * s.length;
  for (int64_t r = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; r < rows;
       r += int64_t(gridDim.x) * blockDim.x) {
    const int64_t head = r / s.length, t = r % s.length, b = head / s.heads;
    const int64_t off = head * s.length * s.dim;
    local_attention_row_backward(q + off, k + off, v + off, valid + b * s.length, s, t,
                                 dout + off, dq + off, dk + off, dv + off, AtomicAdd{});
  }
}

void check_band(const LocalAttentionShape& s) {
  if (2 * s.half_window + 1 > kMaxAttentionBand || s.half_window < 1)
    throw Error("CUDA kernel local_attention",
                "window " + std::to_string(2 * s.half_window + 1) + " outside 3.." +
                    std::to_string(kMaxAttentionBand),
                "use a smaller n_mha_win_size or ASL_KERNELS=off");
}

}  // namespace

void local_attention_forward(const float* q, const float* k, const float* v,
                             const uint8_t* valid, const LocalAttentionShape& s, float* out,
                             void* stream) {
  check_band(s);
  const int64_t rows = s.batch * s.heads * s.length;
  if (rows == 0) return;
  forward_kernel<<<blocks_for(rows), kThreads, 0, as_stream(stream)>>>(q, k, v, valid, s, out);
  check_launch("local_attention_forward");
}

void local_attention_backward(const float* q, const float* k, const float* v,
                              const uint8_t* valid, const LocalAttentionShape& s,
                              const float* dout, float* dq, float* dk, float* dv,
                              void* stream) {
  check_band(s);
  const int64_t rows = s.batch * s.heads * s.length;
  if (rows == 0) return;
  const size_t bytes = sizeof(float) * rows * s.dim;
  check(cudaMemsetAsync(dk, 0, bytes, as_stream(stream)), "local_attention_backward");
  check(cudaMemsetAsync(dv, 0, bytes, as_stream(stream)), "local_attention_backward");
  backward_kernel<<<blocks_for(rows), kThreads, 0, as_stream(stream)>>>(q, k, v, valid, s, dout,
                                                                        dq, dk, dv);
  check_launch("local_attention_backward");
}

}  // namespace asl::kernels::cuda
