// Facts about the LibTorch runtime, for `asl --version` and start-up logs.
// The header is tensor-free so that the command line need not parse LibTorch.
#pragma once

#include <cstdint>
#include <string>

namespace asl {

struct TorchRuntime {
  std::string version;     // LibTorch version, e.g. "1.13.1"
  bool cuda = false;       // CUDA devices usable
  int cuda_devices = 0;
  int intra_op_threads = 0;
  std::string parallel;    // at::get_parallel_info(): OpenMP / BLAS threading
};

TorchRuntime torch_runtime();

// Memory in use (all processes) and in all on CUDA device `device`; false without CUDA in
// the build or without that device. Safe to call from any thread (the metrics server's).
bool cuda_memory(int device, int64_t* used_bytes, int64_t* total_bytes);

// The most memory LibTorch's CUDA allocator has held for tensors on `device` since the last
// reset_cuda_peak; false without CUDA in the build or without that device.
bool cuda_peak_allocated(int device, int64_t* peak_bytes);
void reset_cuda_peak(int device);

// Sets LibTorch's intra-op threads (0 leaves the default).
void set_torch_threads(int threads);

}  // namespace asl
