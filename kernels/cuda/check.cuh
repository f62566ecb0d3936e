// Error handling and launch geometry shared by the .cu files.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>
#include <string>

#include "core/error.h"

namespace asl::kernels::cuda {

inline void check(cudaError_t status, const char* what) {
  if (status != cudaSuccess)
    throw Error(std::string("CUDA kernel ") + what, cudaGetErrorString(status),
                "check the GPU with nvidia-smi; kernels can be turned off with ASL_KERNELS=off");
}

// After a launch: the launch's own error (bad geometry, no device), not the kernel's result.
inline void check_launch(const char* what) { check(cudaGetLastError(), what); }

inline cudaStream_t as_stream(void* stream) { return static_cast<cudaStream_t>(stream); }

constexpr int kThreads = 256;

inline unsigned blocks_for(int64_t n) {
  const int64_t b = (n + kThreads - 1) / kThreads;
  return static_cast<unsigned>(b < 1 ? 1 : (b > 65535 * 8 ? 65535 * 8 : b));
}

}  // namespace asl::kernels::cuda
