// `asl train` in one process: the reference's epoch loop (train.py) over the train split,
// one TrainStep per batch, a line per step in steps.jsonl, checkpoints at epoch ends
// (train/checkpoint.h) and exact resume from them. Scoring is not done here: a hook runs
// after every epoch's checkpoint (validation plugs in there).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "core/config.h"
#include "core/error.h"
#include "data/annotations.h"
#include "data/dataset.h"
#include "train/step.h"

namespace asl::cluster {
class Communicator;
class GradientBuckets;
}  // namespace asl::cluster

namespace asl::monitor {
class TrainMetrics;
}

namespace asl::train {

struct TrainerOptions {
  std::string output_dir;      // created when missing
  std::string resume;          // "": fresh run; "auto": newest checkpoint of output_dir; a path
  std::string init;            // weights to start from (native checkpoint, any kind)
  int64_t stop_after_epochs = 0;  // > 0: return after this many epochs of this run
  // Data-parallel job (docs/cluster.md): this rank trains its shard of every epoch; rank 0
  // writes the logs and checkpoints. Null: one process.
  cluster::Communicator* comm = nullptr;
};

// What the epoch-end hook sees.
struct EpochEnd {
  int64_t epoch = 0;         // epochs completed
  int64_t total_epochs = 0;
  int64_t global_step = 0;
  std::string checkpoint;    // last.ckpt of this epoch
  const ModelEma* ema = nullptr;
};
using EpochEndHook = std::function<void(const EpochEnd&)>;

class Trainer {
 public:
  // Seeds torch (init_rand_seed), builds the model, optimizer, dataset and loader, then loads
  // --init weights or the --resume checkpoint. Throws asl::Error for bad inputs.
  Trainer(const config::Config& cfg, std::shared_ptr<const data::ClipAnnotations> annotations,
          std::shared_ptr<data::FeatureSource> source, TrainerOptions options);
  ~Trainer();

  // Validation hook: called after each epoch's checkpoint is written.
  void set_epoch_end_hook(EpochEndHook hook) { epoch_end_hook_ = std::move(hook); }

  // Trains until the last epoch (or stop_after_epochs). A stop signal (train/stop_signal.h)
  // ends the run after the step in flight with a checkpoint of that step and asl::Interrupted.
  // One that arrives while an epoch's checkpoint is written or validated (no step follows, or
  // only after minutes) ends the run right after that phase, the epoch's checkpoint kept.
  void run();

  int64_t epoch() const { return epoch_; }
  int64_t total_epochs() const { return total_epochs_; }
  int64_t global_step() const { return global_step_; }
  int64_t position() const { return position_; }  // batches done in the current epoch
  int64_t iterations_per_epoch() const { return iterations_per_epoch_; }
  const std::string& resumed_from() const { return resumed_from_; }
  TrainStep& step() { return *step_; }

 private:
  void restore(const std::string& path);
  // Writes last.ckpt (rank 0; every rank takes part, for the generator states); at an
  // epoch's end also epoch_NNNN.ckpt when due.
  void save_checkpoint(bool epoch_end);
  void broadcast_state();
  // Rank 0 picks the checkpoint (or none, or an error); every rank gets its decision.
  std::string agree_on_resume_path();
  // Every rank restores `path`; any rank's failure, or ranks that read different training
  // states, end the job on every rank with one message.
  void restore_everywhere(const std::string& path);
  // The other ranks wait for rank 0's own long phase under dist.root_timeout_s.
  void wait_for_root(const std::string& what);
  // Whether any rank has been asked to stop (a collective: every rank calls it at once).
  bool stop_agreed();
  // The error that ends a run asked to stop during `phase` of epoch_ (after that phase).
  Interrupted stopped_during(const std::string& phase) const;
  void truncate_step_log();
  bool is_root() const { return rank_ == 0; }

  config::Config cfg_;
  TrainerOptions options_;
  std::unique_ptr<data::DataLoader> loader_;
  std::unique_ptr<TrainStep> step_;
  std::unique_ptr<cluster::GradientBuckets> buckets_;
  std::unique_ptr<monitor::TrainMetrics> metrics_;  // null: monitoring off
  cluster::Communicator* comm_ = nullptr;
  int rank_ = 0;
  int world_ = 1;
  EpochEndHook epoch_end_hook_;
  int64_t iterations_per_epoch_ = 0;
  int64_t total_epochs_ = 0;
  int64_t epoch_ = 0;        // epochs completed
  int64_t global_step_ = 0;  // iterations completed
  int64_t position_ = 0;     // batches of epoch_ completed (a run stopped mid-epoch)
  std::string resumed_from_;
};

// The default output folder: output_folder/<config file name without extension>.
std::string default_output_dir(const config::Config& cfg, const std::string& config_path);

}  // namespace asl::train
