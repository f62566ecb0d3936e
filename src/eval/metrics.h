// `asl score`: both official metrics on one prediction file, the metrics JSON
// (metrics_json below, docs/evaluation.md) and the human table (percent).
#pragma once

#include <string>
#include <vector>

#include "data/annotations.h"
#include "eval/detection.h"
#include "eval/predictions.h"
#include "eval/retrieval.h"

namespace asl::eval {

struct Metrics {
  DetectionResult detection;
  RetrievalResult retrieval;
};

// The clips the official evaluator scores for `split`, in file order. It tests
// `clip["subset"] in split`, a substring test on the split string, so "trainval" selects
// train and val clips; kept as is.
std::vector<const data::Clip*> select_split(const data::ClipAnnotations& annotations,
                                            const std::string& split);

// Both metrics. Throws asl::Error when the split has no ground-truth entry (the official
// evaluator fails there too).
Metrics score(const data::ClipAnnotations& annotations, const PredictionFile& predictions,
              const std::string& split, int threads = 0);

// {"mAP": {"0.1": x, ...}, "average_mAP": x, "recall": {"R1@0.3": x, ...},
//  "AP_per_class": {"class": AP averaged over the tIoUs, ...}}, fractions.
std::string metrics_json(const Metrics& metrics);

// The table `asl score` prints, in percent.
std::string format_table(const Metrics& metrics);

}  // namespace asl::eval
