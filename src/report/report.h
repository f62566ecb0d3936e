// `asl report RUN_DIR --out report.html`: one self-contained HTML page (inline SVG and CSS,
// no scripts, nothing fetched) from a run folder's steps.jsonl, validation.jsonl and a
// metrics JSON (`asl eval --json`).
#pragma once

#include <limits>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace asl::report {

constexpr double kMissing = std::numeric_limits<double>::quiet_NaN();

// One line of steps.jsonl; a field that is absent or null (a NaN loss) is kMissing.
struct StepRow {
  double step = 0, epoch = 0;
  double lr = kMissing, cls = kMissing, reg = kMissing, al = kMissing, final_loss = kMissing;
  double samples_per_s = kMissing, data_wait_s = kMissing;
};

struct Scores {
  // MQ: tIoU -> mAP (fractions). NLQ: R1@0.3, R1@0.5, R5@0.3, R5@0.5, mIoU -> value.
  std::vector<std::pair<std::string, double>> map;
  double average_map = 0;                              // NLQ: mean R@1
  bool nlq = false;                                    // Natural Language Queries metrics
  std::map<std::string, double> recall;                // "R1@0.5" -> recall
  std::vector<std::pair<std::string, double>> per_class;  // class -> AP over tIoU
};

struct ValidationRow {
  double epoch = 0;
  Scores scores;
  bool best = false;
};

struct RunData {
  std::string name;  // the run folder's name
  std::vector<StepRow> steps;
  std::vector<ValidationRow> validations;
  std::optional<Scores> metrics;  // the metrics JSON, or the last validation
  std::string metrics_source;
};

// Reads RUN_DIR. steps.jsonl must exist; a torn last line (a run still writing) is skipped,
// a bad line elsewhere is an asl::Error naming file and line. `metrics_path` empty:
// RUN_DIR/metrics.json when present, else the last validation.
RunData read_run(const std::string& run_dir, const std::string& metrics_path = "");

// The page.
std::string render(const RunData& run);

// The running median of `values` over a window of `window` points (the last `window`).
std::vector<double> moving_median(const std::vector<double>& values, size_t window);

}  // namespace asl::report
