// The model EMA as one multi-tensor launch: blockIdx.y picks the tensor, x strides it.
#include <vector>

#include "kernels/cuda/check.cuh"
#include "kernels/launch.h"
#include "kernels/loss_math.h"

namespace asl::kernels::cuda {
namespace {

__global__ void ema_kernel(const EmaSpan* spans, float decay, float one_minus_decay) {
  const EmaSpan s = spans[blockIdx.y];
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < s.n;
       i += int64_t(gridDim.x) * blockDim.x)
    s.average[i] = ema_step(s.average[i], s.value[i], decay, one_minus_decay);
}

}  // namespace

void ema_update(const EmaSpan* spans, int64_t count, float decay, float one_minus_decay,
                void* stream) {
  if (count == 0) return;
  int64_t largest = 0;
  for (int64_t i = 0; i < count; ++i) largest = spans[i].n > largest ? spans[i].n : largest;
  // The span table goes to the device with the launch (it is a few KiB).
  EmaSpan* table = nullptr;
  const size_t bytes = sizeof(EmaSpan) * count;
  for (int64_t first = 0; first < count; first += 65535) {
    const int64_t part = count - first < 65535 ? count - first : 65535;
    check(cudaMallocAsync(reinterpret_cast<void**>(&table), bytes, as_stream(stream)),
          "ema_update");
    check(cudaMemcpyAsync(table, spans + first, sizeof(EmaSpan) * part, cudaMemcpyHostToDevice,
                          as_stream(stream)),
          "ema_update");
    const dim3 grid(blocks_for(largest) < 64 ? blocks_for(largest) : 64,
                    static_cast<unsigned>(part));
    ema_kernel<<<grid, kThreads, 0, as_stream(stream)>>>(table, decay, one_minus_decay);
    check_launch("ema_update");
    check(cudaFreeAsync(table, as_stream(stream)), "ema_update");
  }
}

}  // namespace asl::kernels::cuda
