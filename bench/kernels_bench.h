// `asl bench --what kernels`: each fused kernel (kernels/) against what it replaces, on one
// device: the GPU (`dist.device`, default auto) in a CUDA build, else the CPU, where the
// "kernel" is its CPU reference loop and the numbers only show that the benchmark runs.
#pragma once

#include <string>
#include <vector>

#include "bench/bench.h"

namespace asl::bench {

// CONFIG (optional) gives dist.device and the model whose parameters the EMA updates.
std::string run_kernels_bench(const Options& options, const std::string& config,
                              const std::vector<std::string>& overrides);

}  // namespace asl::bench
