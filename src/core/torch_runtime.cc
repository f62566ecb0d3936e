#include "core/torch_runtime.h"

#include <ATen/Parallel.h>
#include <torch/version.h>

#include "asl/build_info.h"
#if ASL_HAVE_CUDA
#include <c10/cuda/CUDACachingAllocator.h>
#include <cuda_runtime_api.h>
#endif

namespace asl {

TorchRuntime torch_runtime() {
  TorchRuntime info;
  info.version = TORCH_VERSION;
  info.cuda = torch::cuda::is_available();
  info.cuda_devices = info.cuda ? static_cast<int>(torch::cuda::device_count()) : 0;
  info.intra_op_threads = at::get_num_threads();
  info.parallel = at::get_parallel_info();
  return info;
}

bool cuda_memory(int device, int64_t* used_bytes, int64_t* total_bytes) {
#if ASL_HAVE_CUDA
  // cudaMemGetInfo answers for the calling thread's current device.
  if (device < 0 || cudaSetDevice(device) != cudaSuccess) return false;
  size_t free_bytes = 0, total = 0;
  if (cudaMemGetInfo(&free_bytes, &total) != cudaSuccess) return false;
  *used_bytes = static_cast<int64_t>(total - free_bytes);
  *total_bytes = static_cast<int64_t>(total);
  return true;
#else
  (void)device;
  (void)used_bytes;
  (void)total_bytes;
  return false;
#endif
}

bool cuda_peak_allocated(int device, int64_t* peak_bytes) {
#if ASL_HAVE_CUDA
  if (device < 0 || device >= static_cast<int>(torch::cuda::device_count())) return false;
  // allocated_bytes[0]: the aggregate over pool kinds (StatType::AGGREGATE in every version).
  const auto stats =
      c10::cuda::CUDACachingAllocator::getDeviceStats(static_cast<c10::DeviceIndex>(device));
  *peak_bytes = stats.allocated_bytes[0].peak;
  return true;
#else
  (void)device;
  (void)peak_bytes;
  return false;
#endif
}

void reset_cuda_peak(int device) {
#if ASL_HAVE_CUDA
  if (device >= 0 && device < static_cast<int>(torch::cuda::device_count()))
    c10::cuda::CUDACachingAllocator::resetPeakStats(static_cast<c10::DeviceIndex>(device));
#else
  (void)device;
#endif
}

void set_torch_threads(int threads) {
  if (threads > 0) at::set_num_threads(threads);
}

}  // namespace asl
