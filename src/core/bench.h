// The benchmarks that live beside the code they measure, as `asl bench` calls them.
// Each prints a table and returns its results as JSON text (written with --json).
#pragma once

#include <string>

namespace asl::bench {

struct Options {
  int repeat = 5;
  std::string json_out;
};

// --what nms: batched soft-NMS on Ego4D-shaped candidate sets (src/infer/nms_bench.cc).
std::string run_nms_bench(const Options& options);
// --what score: `asl score` against the official evaluator's measured time
// (src/eval/score_bench.cc).
std::string run_score_bench(const Options& options);

}  // namespace asl::bench
