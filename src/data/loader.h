// Batches for training and evaluation: background worker threads with prefetching,
// deterministic for a seed whatever the number of workers (each sample draws its crop from
// a generator seeded by (seed, epoch, its position in the epoch)), reading only this
// rank's shard (data/sharding.h).
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <vector>

#include "data/dataset.h"
#include "data/sharding.h"

namespace asl::data {

struct Batch {
  std::vector<VideoItem> items;
  at::Tensor feats;            // [B, C, T] zero-padded
  at::Tensor masks;            // [B, 1, T] bool, true at valid steps
  std::vector<bool> padding;   // per item: a repeat added to even out the ranks (evaluation)
  at::Tensor query;            // NLQ: [B, text_dim, L] zero-padded text tokens
  at::Tensor query_mask;       // NLQ: [B, 1, L] bool
};

// The reference's preprocessing. Training drops items without labels and pads every clip to
// max_seq_len (longer is an error); evaluation takes one clip and pads it to max_seq_len, or
// to the next multiple of max_div_factor when longer.
Batch collate(std::vector<VideoItem> items, std::vector<bool> padding, bool is_training,
              int64_t max_seq_len, int64_t max_div_factor);

struct LoaderOptions {
  int64_t batch_size = 1;    // per rank
  int num_workers = 0;       // 0: batches are made in next()
  int prefetch = 2;          // batches ready ahead, per worker
  bool shuffle = true;
  bool drop_last = true;
  uint64_t seed = 0;
  int rank = 0;
  int world_size = 1;
  bool fixed_shard = false;  // dist.sharding: fixed (data/sharding.h)
  bool pin_memory = false;   // batches in page-locked memory (CUDA builds, training on a GPU)
};

class DataLoader {
 public:
  DataLoader(std::shared_ptr<const Ego4dDataset> dataset, LoaderOptions options,
             int64_t max_div_factor);
  ~DataLoader();
  DataLoader(const DataLoader&) = delete;
  DataLoader& operator=(const DataLoader&) = delete;

  // Plans the epoch's shard and starts the workers at batch `first_batch` (> 0: an epoch
  // resumed in the middle; the batches before it are not read).
  void start_epoch(int64_t epoch, int64_t first_batch = 0);
  // The next batch of the epoch, nullopt at its end. Rethrows a worker's error.
  std::optional<Batch> next();

  int64_t num_batches() const;
  const ShardPlan& plan() const;
  // Seconds next() spent waiting for data since start_epoch.
  double wait_seconds() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace asl::data
