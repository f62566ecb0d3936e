// `asl bench CONFIG --what train|infer`: the training iteration split into its parts
// (forward+loss, backward, clipping, AdamW+schedule, EMA) and the evaluation forward, on
// synthetic Ego4D-shaped batches, with the medians of several runs and the peak memory.
#pragma once

#include <string>
#include <vector>

namespace asl::train {

struct ModelBenchOptions {
  std::string config;
  std::vector<std::string> overrides;
  std::string what = "train";  // train | infer
  int repeat = 5;              // measured iterations (median reported)
  int warmup = 1;              // unmeasured iterations first
  int threads = 2;             // LibTorch intra-op threads
  std::string json_out;
  // When set, one more iteration runs under LibTorch's profiler, which writes its events
  // there (Chrome trace JSON; bench/profile_summary.py lists the operations by self time).
  std::string profile_out;
};

// Prints a table; returns the results as JSON text.
std::string run_model_bench(const ModelBenchOptions& options);

}  // namespace asl::train
