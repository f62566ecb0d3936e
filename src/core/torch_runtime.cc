#include "core/torch_runtime.h"

#include <ATen/Parallel.h>
#include <torch/version.h>

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

void set_torch_threads(int threads) {
  if (threads > 0) at::set_num_threads(threads);
}

}  // namespace asl
