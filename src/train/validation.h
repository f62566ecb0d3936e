// Validation during training, as the reference's train.py does it: from its start epoch on,
// after each epoch the EMA weights are run over the first val split and scored with the
// official metrics. Each result is a line of validation.jsonl; the best average mAP (NLQ: mean
// R@1) so far is kept as best.ckpt (a hard link of that epoch's last.ckpt).
#pragma once

#include <cstdint>
#include <memory>
#include <nlohmann/json_fwd.hpp>
#include <string>

#include "core/config.h"
#include "data/annotations.h"
#include "data/dataset.h"
#include "eval/task.h"
#include "train/trainer.h"

namespace asl::cluster {
class Communicator;
}
namespace asl::infer {
class Predictor;
}

namespace asl::train {

struct ValidationResult {
  int64_t epoch = 0;             // epochs completed
  double primary = 0;            // what best.ckpt follows: MQ average mAP, NLQ mean R@1
  double average_map = 0;        // fraction (MQ)
  double recall_1_at_05 = 0;     // R1@0.5, fraction
  std::string metrics_json;      // the full metrics JSON (eval::metrics_json)
  bool best = false;
};

class Validator {
 public:
  // `output_dir`: where validation.jsonl and best.ckpt go. With a communicator of several
  // ranks every rank must call maybe_validate(); each infers its share, rank 0 scores and
  // writes. `source`: the features (null: from the config).
  // `annotations`: the task's (eval::read_task_annotations; NLQ scores need the queries).
  Validator(const config::Config& cfg, eval::TaskAnnotations annotations, std::string output_dir, cluster::Communicator* comm = nullptr,
            std::shared_ptr<data::FeatureSource> source = nullptr);
  ~Validator();

  // The first epoch (completed epochs, 1-based) that is validated: checkpoint.eval_start_epoch,
  // or the reference's `epoch >= max_epochs // 3` on its 0-based epoch.
  int64_t first_epoch() const { return first_epoch_; }

  // Runs when `end.epoch` is due; returns whether it ran (on rank 0: with `result`).
  bool maybe_validate(const EpochEnd& end, ValidationResult* result = nullptr);

 private:
  // Validation metrics to Prometheus (when monitoring is on).
  void record_metrics(int64_t epoch, const nlohmann::json& metrics) const;
  // The metrics JSON key best.ckpt follows: average_mAP (MQ) or mean_R1 (NLQ).
  const char* primary_key() const;

  config::Config cfg_;
  eval::TaskAnnotations annotations_;
  std::string output_dir_;
  std::string split_;
  int64_t first_epoch_ = 0;
  double best_ = -1;
  cluster::Communicator* comm_ = nullptr;
  std::unique_ptr<infer::Predictor> predictor_;
};

}  // namespace asl::train
