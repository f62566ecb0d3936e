// Running a trained model over a split: the dataset in evaluation mode (batch 1, the
// reference's padding), the network with the checkpoint's EMA weights (as the reference
// validates and saves them), decoding and NMS, seconds. Also the prediction / submission file
// (the challenge layout, docs/evaluation.md), each clip's detections by descending score (the
// official Recall@kx reads them in file order).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "core/config.h"
#include "data/annotations.h"
#include "data/dataset.h"
#include "eval/predictions.h"
#include "model/asl_model.h"

namespace asl::cluster {
class Communicator;
}

namespace asl::infer {

// A network in evaluation mode over one split's clips. The caller puts weights in model()
// (a checkpoint's, or the training EMA's); run() detects on any subset of the clips, so ranks
// can share a split.
class Predictor {
 public:
  // source: the features (null: from the config, data::make_feature_source).
  Predictor(const config::Config& cfg, std::shared_ptr<const data::ClipAnnotations> annotations,
            std::vector<std::string> split, std::shared_ptr<data::FeatureSource> source = nullptr);

  int64_t size() const { return dataset_.size(); }
  model::PtTransformer& model() { return net_; }

  // Detections for the clips at `indices` (dataset order; all clips when empty), in that order.
  // Labels are class names of the annotations' label_dict.
  eval::PredictionList run(const std::vector<int64_t>& indices = {});

 private:
  config::Config cfg_;
  data::Ego4dDataset dataset_;
  model::PtTransformer net_;
  std::vector<std::string> class_names_;  // by label id
  std::string split_name_;                // the `split` label of the metrics
  at::Device device_;  // dist.device, resolved (cluster::resolve_device)
};

struct PredictOptions {
  std::string checkpoint;          // native checkpoint (asl train or asl import)
  std::vector<std::string> split;  // subsets to run, e.g. {"val"}
  bool use_ema = true;             // the EMA weights when the checkpoint has them
  cluster::Communicator* comm = nullptr;  // several ranks: each runs a share (infer/distributed.h)
};

// Detections for every clip of the split of `annotations` (cfg.dataset.json_file read by
// the caller), in annotation order; with several ranks, on rank 0 only (others: empty).
eval::PredictionList predict_split(const config::Config& cfg,
                                   std::shared_ptr<const data::ClipAnnotations> annotations,
                                   const PredictOptions& options);

// {"version": "1.0", "challenge": "ego4d_moment_queries", "detect_results": {...},
//  "retrieve_results": {...}} with the same lists for both tasks.
std::string predictions_json(const eval::PredictionList& predictions);

}  // namespace asl::infer
