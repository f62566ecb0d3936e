// `asl bench --what metrics`: the cost of one training step's metric updates with a live
// exporter, against a training step's time measured in the same run (the budget: 0.1%).
#pragma once

#include <string>

namespace asl::bench {

struct MetricsBenchOptions {
  int repeat = 5;             // timed rounds (the median is reported)
  int steps_per_round = 20000;
  double step_s = 0;          // a training step's median time, for the share (0: not shown)
  std::string step_label;     // where step_s comes from
  std::string json_out;
};

// Prints the table; returns the results as JSON text.
std::string run_metrics_bench(const MetricsBenchOptions& options);

}  // namespace asl::bench
