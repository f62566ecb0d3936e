// `asl bench --what load`: clips/s and MB/s reading Ego4D-shaped clips from the feature
// store (float16 and float32, cold and warm page cache where measurable) against reading
// the same clips from per-clip .pt files, in the same run. Tensor-free header.
#pragma once

#include <cstdint>
#include <string>

namespace asl::data {

struct LoadBenchOptions {
  std::string work_dir;      // where the benchmark data is written (removed afterwards)
  int64_t clips = 32;
  int64_t steps = 900;       // time steps per clip
  int repeat = 5;            // passes; the median is reported
  std::string json_out;      // optional results JSON
};

// Prints a table and returns it as JSON text.
std::string run_load_bench(const LoadBenchOptions& options);

}  // namespace asl::data
