// Which samples a rank reads in an epoch. Tensor-free; the cluster runtime supplies the
// world size and rank.
//
// Each epoch a seeded permutation of the n samples is cut so that the union of the ranks'
// i-th batches (b samples each) is exactly the i-th batch (N*b samples) of a single process:
// global batch g holds positions [g*N*b, (g+1)*N*b) and rank r takes its r-th slice of b.
// So `mpirun -np N` with batch b trains on the same batches as one process with batch N*b.
//
// With `fixed` (dist.sharding: fixed, training only) the samples are dealt out once instead:
// a seeded permutation cut into N parts of floor(n/N) or ceil(n/N) samples, and each epoch
// rank r shuffles its own part and takes floor(n/N) // b batches from it (the same count on
// every rank; no sample repeated; a part's extra sample sits out a different epoch each
// time). A rank then reads the same clips in every epoch, so it can hold just those in
// memory; the global batches are no longer those of one process.
#pragma once

#include <cstdint>
#include <vector>

namespace asl::data {

struct ShardPlan {
  std::vector<int64_t> indices;  // sample indices this rank reads, in order
  std::vector<int64_t> positions;  // each one's position in the epoch's global order
  std::vector<bool> padding;     // true where an index repeats an earlier one (eval padding)
};

struct ShardOptions {
  int64_t num_samples = 0;
  int64_t batch_size = 1;   // per rank
  int rank = 0;
  int world_size = 1;
  bool shuffle = true;      // seeded permutation; false keeps dataset order
  bool drop_last = true;    // drop the incomplete global batch; false pads it by repetition
  uint64_t seed = 0;
  int64_t epoch = 0;
  bool fixed = false;       // each rank keeps one part of the samples for every epoch
};

ShardPlan plan_shard(const ShardOptions& options);

// The sample indices rank `rank` keeps with `fixed`, the same for every epoch. Only
// num_samples, rank, world_size, shuffle and seed are read.
std::vector<int64_t> fixed_part(const ShardOptions& options);

// The permutation of [0, n) for (seed, epoch): Fisher-Yates driven by PyRandom.
std::vector<int64_t> epoch_permutation(int64_t n, uint64_t seed, int64_t epoch);

}  // namespace asl::data
