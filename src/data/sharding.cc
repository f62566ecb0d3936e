#include "data/sharding.h"

#include <numeric>

#include "core/error.h"
#include "data/py_random.h"

namespace asl::data {

std::vector<int64_t> epoch_permutation(int64_t n, uint64_t seed, int64_t epoch) {
  std::vector<int64_t> p(static_cast<size_t>(n));
  std::iota(p.begin(), p.end(), int64_t{0});
  PyRandom rng(mix_seed(seed, static_cast<uint64_t>(epoch), 0x5eed));
  for (int64_t i = n - 1; i > 0; --i) {
    const int64_t j = rng.randint(0, i);
    std::swap(p[static_cast<size_t>(i)], p[static_cast<size_t>(j)]);
  }
  return p;
}

namespace {

void check_rank(const ShardOptions& o) {
  if (o.world_size < 1 || o.rank < 0 || o.rank >= o.world_size) {
    throw Error("sharding", "rank " + std::to_string(o.rank) + " outside a world of " +
                                std::to_string(o.world_size));
  }
}

std::vector<int64_t> sample_order(int64_t n, bool shuffle, uint64_t seed, int64_t epoch) {
  if (shuffle) return epoch_permutation(n, seed, epoch);
  std::vector<int64_t> order(static_cast<size_t>(n));
  std::iota(order.begin(), order.end(), int64_t{0});
  return order;
}

// Salts that keep the dealing and each rank's epoch shuffles apart from the epoch
// permutations of the default sharding.
constexpr uint64_t kDealSalt = 0xdea1;
constexpr uint64_t kPartSalt = 0x9a27;

// `fixed`: rank r's part, shuffled for the epoch, cut into its batches; positions are the
// same global slots as in the default sharding (they seed the crops).
ShardPlan plan_fixed(const ShardOptions& o) {
  if (!o.drop_last) {
    throw Error("sharding", "fixed sharding is for training, which drops the incomplete batch",
                "evaluate with the default sharding");
  }
  const std::vector<int64_t> part = fixed_part(o);
  const int64_t m = static_cast<int64_t>(part.size());
  const std::vector<int64_t> order =
      sample_order(m, o.shuffle, mix_seed(o.seed, static_cast<uint64_t>(o.rank), kPartSalt),
                   o.epoch);
  // The smallest part's whole batches: the same count on every rank.
  const int64_t count = o.num_samples / o.world_size / o.batch_size * o.batch_size;
  ShardPlan plan;
  for (int64_t i = 0; i < count; ++i) {
    const int64_t g = i / o.batch_size, k = i % o.batch_size;
    plan.indices.push_back(part[static_cast<size_t>(order[static_cast<size_t>(i)])]);
    plan.positions.push_back(g * o.batch_size * o.world_size + o.rank * o.batch_size + k);
    plan.padding.push_back(false);
  }
  return plan;
}

}  // namespace

std::vector<int64_t> fixed_part(const ShardOptions& o) {
  check_rank(o);
  const int64_t n = o.num_samples, N = o.world_size;
  const std::vector<int64_t> order = sample_order(n, o.shuffle, mix_seed(o.seed, kDealSalt), 0);
  return std::vector<int64_t>(order.begin() + o.rank * n / N, order.begin() + (o.rank + 1) * n / N);
}

ShardPlan plan_shard(const ShardOptions& o) {
  check_rank(o);
  if (o.batch_size < 1) throw Error("sharding", "batch size must be positive");
  if (o.fixed) return plan_fixed(o);
  const std::vector<int64_t> order = sample_order(o.num_samples, o.shuffle, o.seed, o.epoch);
  const int64_t global_batch = o.batch_size * o.world_size;
  int64_t total = static_cast<int64_t>(order.size());
  int64_t padded = total;
  if (o.drop_last) {
    padded = total / global_batch * global_batch;
  } else if (total % global_batch != 0) {
    padded = (total / global_batch + 1) * global_batch;
  }
  ShardPlan plan;
  for (int64_t g = 0; g * global_batch < padded; ++g) {
    for (int64_t k = 0; k < o.batch_size; ++k) {
      const int64_t pos = g * global_batch + o.rank * o.batch_size + k;
      if (pos >= padded) break;
      const bool pad = pos >= total;
      plan.indices.push_back(pad ? order[static_cast<size_t>(pos % total)]
                                 : order[static_cast<size_t>(pos)]);
      plan.positions.push_back(pos);
      plan.padding.push_back(pad);
    }
  }
  return plan;
}

}  // namespace asl::data
