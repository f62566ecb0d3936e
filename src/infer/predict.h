// Running a trained model over a split: the dataset in evaluation mode (batch 1, the
// reference's padding), the network with the checkpoint's EMA weights (as the reference
// validates and saves them), decoding and NMS, seconds. Also the prediction / submission file
// of SPEC §5, each clip's detections by descending score (the official Recall@kx reads them
// in file order).
#pragma once

#include <string>
#include <vector>

#include <memory>

#include "core/config.h"
#include "data/annotations.h"
#include "eval/predictions.h"

namespace asl::infer {

struct PredictOptions {
  std::string checkpoint;          // native checkpoint (asl train or asl import)
  std::vector<std::string> split;  // subsets to run, e.g. {"val"}
  bool use_ema = true;             // the EMA weights when the checkpoint has them
};

// Detections for every clip of the split of `annotations` (cfg.dataset.json_file read by
// the caller), in annotation order.
eval::PredictionList predict_split(const config::Config& cfg,
                                   std::shared_ptr<const data::ClipAnnotations> annotations,
                                   const PredictOptions& options);

// {"version": "1.0", "challenge": "ego4d_moment_queries", "detect_results": {...},
//  "retrieve_results": {...}} with the same lists for both tasks.
std::string predictions_json(const eval::PredictionList& predictions);

}  // namespace asl::infer
