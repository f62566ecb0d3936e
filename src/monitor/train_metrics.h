// The metrics of `asl train`, `asl eval` and `asl infer` (names, units and meanings in
// docs/monitoring.md). Each class creates its metric handles once, in create(), against the
// process's Exporter; the record calls only set values (atomic stores, no allocation, no
// lookup). create() returns null when monitoring is off, and callers skip recording then.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace asl::monitor {

// One training step, as the trainer measured it.
struct StepSample {
  int64_t steps_done = 0;        // global steps completed, this one included
  int64_t epoch = 0;             // the epoch this step belongs to (0-based)
  double progress = 0;           // steps_done / steps of the whole run
  double eta_s = 0;
  double lr = 0;
  double cls_loss = 0, reg_loss = 0, al_loss = 0, final_loss = 0;
  double grad_norm = 0, loss_normalizer = 0;
  int64_t positives = 0;
  int64_t samples = 0;           // this rank's samples in the step
  double step_s = 0, data_wait_s = 0, forward_s = 0, backward_s = 0, allreduce_wait_s = 0,
         optimizer_s = 0;
  double unix_time_s = 0;        // when the step ended
};

class TrainMetrics {
 public:
  static std::unique_ptr<TrainMetrics> create();
  ~TrainMetrics();

  void record_step(const StepSample& s);
  void record_epoch(int64_t epochs_done);
  // A step whose loss or gradient norm was not finite: skipped, or the run stopped on it.
  void record_nonfinite(bool stopped);
  void record_checkpoint(double seconds, int64_t bytes);

 private:
  struct Handles;
  explicit TrainMetrics(std::unique_ptr<Handles> h);
  std::unique_ptr<Handles> h_;
};

// Validation results (rank 0): mAP per tIoU, the average and Recall@k at tIoU.
struct ValidationSample {
  int64_t epoch = 0;
  std::string split;
  std::vector<std::pair<std::string, double>> map;            // tIoU label ("0.1") -> mAP
  double average_map = 0;
  std::vector<std::pair<std::pair<int, std::string>, double>> recall;  // (k, tIoU) -> recall
  bool nlq = false;    // Natural Language Queries: mean R@1 and mIoU instead of the mAPs
  double mean_r1 = 0;
  double miou = 0;
};

// Records into the process's Exporter; does nothing when monitoring is off.
void record_validation(const ValidationSample& s);

// Progress of one inference pass over a split (eval, infer, validation).
class InferMetrics {
 public:
  static std::unique_ptr<InferMetrics> create(const std::string& split);
  ~InferMetrics();

  void start(int64_t planned);
  void advance(int64_t clips, double elapsed_s);

 private:
  struct Handles;
  explicit InferMetrics(std::unique_ptr<Handles> h);
  std::unique_ptr<Handles> h_;
  int64_t planned_ = 0, done_ = 0;
};

}  // namespace asl::monitor
