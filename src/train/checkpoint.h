// Training checkpoints: everything `asl train` needs to continue a run as if it had never
// stopped. The file is the native checkpoint of model/state_dict.h (format "asl-checkpoint",
// version 1: `model`, `model_ema`, `epoch`, `source` keep their meaning, so `asl import`
// readers and --init read it as weights) plus one `train` archive:
//   train_version  int 1
//   global_step, schedule_step (int), schedule_lr, loss_normalizer (double)
//   optimizer      archive: per parameter name an archive {step, exp_avg, exp_avg_sq}
//   buffers, ema_buffers   archives: the model's buffers and their EMA (exact resume)
//   rng_cpu        uint8 tensor, torch's default CPU generator state (rank 0's)
//   rng_cpu_ranks  archive "0", "1", ...: every rank's generator state (data-parallel runs)
//   loader_seed, loader_position (int): the loader is a function of (seed, epoch, position)
//   config         string, the effective config as YAML
// Files are written atomically (temporary file, fsync, rename).
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "core/config.h"
#include "model/state_dict.h"

namespace asl::train {

struct AdamParamState {
  std::string name;  // the parameter's state-dict name
  int64_t step = 0;
  at::Tensor exp_avg, exp_avg_sq;
};

struct TrainingCheckpoint {
  model::NamedTensors model, model_ema;       // parameters, by name
  model::NamedTensors buffers, ema_buffers;   // buffers (constant in ASL; kept for exactness)
  std::vector<AdamParamState> optimizer;      // parameters that have AdamW state
  int64_t epoch = 0;                          // epochs completed (the next one to run)
  int64_t global_step = 0;                    // iterations completed
  int64_t schedule_step = 0;
  double schedule_lr = 0;
  double loss_normalizer = 0;
  at::Tensor rng_cpu;                         // torch CPU generator state
  std::vector<at::Tensor> rng_cpu_ranks;      // per rank, when trained data-parallel
  int64_t loader_seed = 0;
  int64_t loader_position = 0;                // batches of `epoch` already consumed
  std::string config_yaml;
  std::string source = "asl train";
};

// Writes `ckpt` atomically to `path`; on error the previous file at `path` is intact.
void write_checkpoint(const std::string& path, const TrainingCheckpoint& ckpt);

// Reads a training checkpoint. Throws asl::Error naming the path for a missing, truncated or
// foreign file, or a weights-only file (an `asl import` output: use --init).
TrainingCheckpoint read_checkpoint(const std::string& path);

// True when `path` holds a training checkpoint (not only weights); false for weights-only
// native files. Throws like read_checkpoint for unreadable files.
bool is_training_checkpoint(const std::string& path);

// Refuses to resume a run of another architecture: compares the model-defining keys of the
// checkpoint's config with `cfg` (model.*, dataset.input_dim, dataset.num_classes,
// dataset.max_seq_len). Throws asl::Error naming the path and the first differing key.
void check_same_architecture(const std::string& path, const std::string& checkpoint_yaml,
                             const config::Config& cfg);

// A key of the config stored in a checkpoint (e.g. "dist.sharding"), as written there;
// nullopt when absent or when the stored config does not parse. Read raw, not validated:
// an older config that no longer passes every check still answers.
std::optional<std::string> stored_config_value(const std::string& checkpoint_yaml,
                                               const std::string& key_path);

// ---- files in an output folder ----

// "epoch_0003.ckpt" for 3 completed epochs.
std::string epoch_checkpoint_name(int64_t epoch);
constexpr const char* kLastCheckpoint = "last.ckpt";

// `--resume auto`: the newest checkpoint of `dir` that reads completely (last.ckpt, then
// epoch_*.ckpt from the highest number down), nullopt when there is none. Unreadable files
// are skipped with a warning naming them.
std::optional<std::string> find_resume_checkpoint(const std::string& dir);

// Removes epoch_*.ckpt files of `dir` beyond the newest `keep` (keep <= 0: keeps all).
// Returns the removed names.
std::vector<std::string> rotate_checkpoints(const std::string& dir, int64_t keep);

}  // namespace asl::train
