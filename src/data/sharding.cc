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

ShardPlan plan_shard(const ShardOptions& o) {
  if (o.world_size < 1 || o.rank < 0 || o.rank >= o.world_size) {
    throw Error("sharding", "rank " + std::to_string(o.rank) + " outside a world of " +
                                std::to_string(o.world_size));
  }
  if (o.batch_size < 1) throw Error("sharding", "batch size must be positive");
  std::vector<int64_t> order;
  if (o.shuffle) {
    order = epoch_permutation(o.num_samples, o.seed, o.epoch);
  } else {
    order.resize(static_cast<size_t>(o.num_samples));
    std::iota(order.begin(), order.end(), int64_t{0});
  }
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
