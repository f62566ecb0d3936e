// Python-compatible random numbers, shard plans, collation and the threaded loader.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <algorithm>
#include <numeric>
#include <set>

#include "common/test_util.h"
#include "core/error.h"
#include "data/loader.h"
#include "data/py_random.h"
#include "data/sharding.h"
#include "dataset_fixtures.h"

namespace asl::data {
namespace {

using asl::testing::error_of;

TEST(PyRandom, MatchesCPython) {
  // CPython 3.11: random.seed(0); [random.randint(0, 100) for _ in range(5)]
  PyRandom a(0);
  for (int64_t expected : {49, 97, 53, 5, 33}) EXPECT_EQ(a.randint(0, 100), expected);
  // random.seed(12345); 3 x randint(922, 1024); randint(0, 0); randint(0, 2**40)
  PyRandom b(12345);
  for (int64_t expected : {975, 1015, 923}) EXPECT_EQ(b.randint(922, 1024), expected);
  EXPECT_EQ(b.randint(0, 0), 0);
  EXPECT_EQ(b.randint(0, int64_t{1} << 40), 811126642874);
  // random.seed(2**64 + 7) is beyond uint64; random.seed(0); random.random()
  PyRandom c(0);
  EXPECT_DOUBLE_EQ(c.random(), 0.8444218515250481);
}

TEST(Sharding, RanksPartitionEachGlobalBatch) {
  ShardOptions o;
  o.num_samples = 23;
  o.batch_size = 2;
  o.world_size = 3;
  o.seed = 5;
  o.epoch = 1;
  std::vector<ShardPlan> plans;
  for (int r = 0; r < 3; ++r) {
    o.rank = r;
    plans.push_back(plan_shard(o));
  }
  // drop_last: 23 // 6 = 3 global batches of 6; each rank 3 batches of 2.
  const ShardOptions single{23, 6, 0, 1, true, true, 5, 1};
  const ShardPlan one = plan_shard(single);
  ASSERT_EQ(one.indices.size(), 18u);
  for (int g = 0; g < 3; ++g) {
    std::vector<int64_t> together;
    for (int r = 0; r < 3; ++r) {
      ASSERT_EQ(plans[r].indices.size(), 6u);
      together.push_back(plans[r].indices[2 * g]);
      together.push_back(plans[r].indices[2 * g + 1]);
    }
    const std::vector<int64_t> expected(one.indices.begin() + 6 * g, one.indices.begin() + 6 * g + 6);
    EXPECT_EQ(together, expected) << "global batch " << g;
  }
  const auto perm = epoch_permutation(23, 5, 1);
  EXPECT_EQ(std::set<int64_t>(perm.begin(), perm.end()).size(), 23u);
  EXPECT_NE(perm, epoch_permutation(23, 5, 2));
  EXPECT_EQ(perm, epoch_permutation(23, 5, 1));
}

TEST(Sharding, EvaluationPadsByRepetition) {
  ShardOptions o;
  o.num_samples = 5;
  o.batch_size = 1;
  o.world_size = 2;
  o.shuffle = false;
  o.drop_last = false;
  std::vector<int64_t> all;
  int pads = 0;
  for (int r = 0; r < 2; ++r) {
    o.rank = r;
    const ShardPlan p = plan_shard(o);
    EXPECT_EQ(p.indices.size(), 3u);  // 6 slots for 5 clips
    for (size_t i = 0; i < p.indices.size(); ++i) {
      if (p.padding[i]) {
        ++pads;
      } else {
        all.push_back(p.indices[i]);
      }
    }
  }
  std::sort(all.begin(), all.end());
  EXPECT_EQ(all, (std::vector<int64_t>{0, 1, 2, 3, 4}));
  EXPECT_EQ(pads, 1);
  o.rank = 2;
  EXPECT_THROW(plan_shard(o), Error);
}

TEST(Sharding, FixedPartsCoverEverySampleOnceAndStayPutAcrossEpochs) {
  ShardOptions o;
  o.num_samples = 23;
  o.batch_size = 2;
  o.world_size = 4;
  o.seed = 5;
  o.fixed = true;
  std::vector<int64_t> dealt;
  for (int r = 0; r < 4; ++r) {
    o.rank = r;
    const std::vector<int64_t> part = fixed_part(o);
    ASSERT_EQ(part.size(), r == 0 ? 5u : 6u);  // 23 = 5 + 6 + 6 + 6
    dealt.insert(dealt.end(), part.begin(), part.end());
    const std::set<int64_t> mine(part.begin(), part.end());
    std::set<std::vector<int64_t>> orders;
    for (int64_t epoch = 0; epoch < 4; ++epoch) {
      o.epoch = epoch;
      const ShardPlan plan = plan_shard(o);
      // floor(23 / 4) = 5 -> 2 batches of 2 on every rank, whatever its part's size.
      ASSERT_EQ(plan.indices.size(), 4u);
      EXPECT_EQ(std::set<int64_t>(plan.indices.begin(), plan.indices.end()).size(), 4u)
          << "a sample repeated";
      for (size_t i = 0; i < plan.indices.size(); ++i) {
        EXPECT_TRUE(mine.count(plan.indices[i])) << "rank " << r << " read another part";
        EXPECT_FALSE(plan.padding[i]);
        // Global slots as in the default sharding: batch g, rank r, item k.
        EXPECT_EQ(plan.positions[i], static_cast<int64_t>(i / 2) * 8 + r * 2 +
                                         static_cast<int64_t>(i % 2));
      }
      orders.insert(plan.indices);
      EXPECT_EQ(plan.indices, plan_shard(o).indices);  // deterministic
    }
    EXPECT_GE(orders.size(), 3u) << "rank " << r << ": the part is not reshuffled each epoch";
  }
  // Every sample dealt to exactly one rank.
  std::sort(dealt.begin(), dealt.end());
  std::vector<int64_t> all(23);
  std::iota(all.begin(), all.end(), int64_t{0});
  EXPECT_EQ(dealt, all);
  // Another seed deals differently; a world of one keeps every sample.
  o.rank = 0;
  const auto first = fixed_part(o);
  o.seed = 6;
  EXPECT_NE(fixed_part(o), first);
  o.world_size = 1;
  EXPECT_EQ(fixed_part(o).size(), 23u);
}

TEST(Sharding, FixedIsForTrainingAndNeedsABatchPerPart) {
  ShardOptions o;
  o.num_samples = 7;
  o.batch_size = 3;
  o.world_size = 2;
  o.fixed = true;
  o.shuffle = false;
  o.rank = 1;
  EXPECT_EQ(fixed_part(o), (std::vector<int64_t>{3, 4, 5, 6}));  // unshuffled: slots 3..6
  EXPECT_EQ(plan_shard(o).indices, (std::vector<int64_t>{3, 4, 5}));  // floor(7/2) = 3: 1 batch
  o.batch_size = 4;  // parts of 3 and 4: no rank can fill a batch of 4 every epoch
  EXPECT_TRUE(plan_shard(o).indices.empty());
  o.drop_last = false;
  EXPECT_HAS(error_of([&] { plan_shard(o); }), "training");
}

VideoItem item_of_length(int64_t t, int64_t labels) {
  VideoItem item;
  item.clip_id = "c" + std::to_string(t);
  item.feats = torch::ones({2, t});
  item.segments = torch::zeros({labels, 2});
  item.labels = torch::zeros({labels}, torch::kInt64);
  return item;
}

TEST(Collate, TrainingPadsToMaxSeqLenAndDropsUnlabeled) {
  const Batch b = collate({item_of_length(10, 1), item_of_length(7, 0), item_of_length(16, 2)}, {},
                          true, 16, 4);
  ASSERT_EQ(b.items.size(), 2u);
  EXPECT_EQ(b.feats.sizes(), (std::vector<int64_t>{2, 2, 16}));
  EXPECT_EQ(b.masks.sizes(), (std::vector<int64_t>{2, 1, 16}));
  EXPECT_EQ(b.masks[0].sum().item<int64_t>(), 10);
  EXPECT_EQ(b.masks[1].sum().item<int64_t>(), 16);
  EXPECT_EQ(b.feats[0][0][9].item<float>(), 1.f);
  EXPECT_EQ(b.feats[0][0][10].item<float>(), 0.f);  // zero padding
  EXPECT_THROW(collate({item_of_length(17, 1)}, {}, true, 16, 4), Error);
}

TEST(Collate, EvaluationPadsToMaxSeqLenOrTheNextMultipleOfTheDivFactor) {
  EXPECT_EQ(collate({item_of_length(10, 0)}, {}, false, 16, 8).feats.size(2), 16);
  EXPECT_EQ(collate({item_of_length(17, 1)}, {}, false, 16, 8).feats.size(2), 24);
  EXPECT_EQ(collate({item_of_length(24, 1)}, {}, false, 16, 8).feats.size(2), 24);
  EXPECT_EQ(collate({item_of_length(17, 0)}, {true}, false, 16, 8).padding[0], true);
}

class LoaderTest : public ::testing::Test {
 protected:
  std::shared_ptr<Ego4dDataset> dataset(bool training) {
    static const config::Config cfg = testing::small_config(16);
    auto clips = testing::make_clips(24, 5.0, 2.0);
    auto source = std::make_shared<testing::FakeSource>(std::vector<int64_t>{3, 2}, 10);
    return std::make_shared<Ego4dDataset>(cfg, training, std::vector<std::string>{"train"},
                                          clips, source);
  }

  std::vector<Batch> epoch(std::shared_ptr<Ego4dDataset> ds, LoaderOptions o, int64_t e) {
    DataLoader loader(ds, o, 4);
    loader.start_epoch(e);
    std::vector<Batch> out;
    while (auto b = loader.next()) out.push_back(std::move(*b));
    EXPECT_EQ(static_cast<int64_t>(out.size()), loader.num_batches());
    return out;
  }
};

void expect_same(const std::vector<Batch>& a, const std::vector<Batch>& b) {
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i) {
    ASSERT_EQ(a[i].items.size(), b[i].items.size());
    for (size_t k = 0; k < a[i].items.size(); ++k) {
      EXPECT_EQ(a[i].items[k].clip_id, b[i].items[k].clip_id);
      EXPECT_TRUE(torch::equal(a[i].items[k].segments, b[i].items[k].segments));
    }
    EXPECT_TRUE(torch::equal(a[i].feats, b[i].feats));
    EXPECT_TRUE(torch::equal(a[i].masks, b[i].masks));
  }
}

TEST_F(LoaderTest, SameBatchesWhateverTheNumberOfWorkers) {
  auto ds = dataset(true);
  LoaderOptions o;
  o.batch_size = 2;
  o.seed = 11;
  const auto sync = epoch(ds, o, 0);
  EXPECT_EQ(sync.size(), 9u);  // 18 train clips / 2
  for (int workers : {1, 3}) {
    o.num_workers = workers;
    o.prefetch = 1;
    expect_same(sync, epoch(ds, o, 0));
  }
  o.num_workers = 0;
  const auto other = epoch(ds, o, 1);
  bool differs = false;
  for (size_t i = 0; i < sync.size(); ++i) differs |= sync[i].items[0].clip_id != other[i].items[0].clip_id;
  EXPECT_TRUE(differs) << "epochs should be shuffled differently";
}

TEST_F(LoaderTest, TwoRanksOfBatchBSeeTheBatchesOfOneRankOfBatch2B) {
  auto ds = dataset(true);
  LoaderOptions one;
  one.batch_size = 4;
  one.seed = 3;
  const auto whole = epoch(ds, one, 2);
  LoaderOptions half = one;
  half.batch_size = 2;
  half.world_size = 2;
  half.num_workers = 2;
  half.rank = 0;
  const auto r0 = epoch(ds, half, 2);
  half.rank = 1;
  const auto r1 = epoch(ds, half, 2);
  ASSERT_EQ(r0.size(), whole.size());
  for (size_t i = 0; i < whole.size(); ++i) {
    ASSERT_EQ(whole[i].items.size(), 4u);
    const VideoItem* parts[] = {&r0[i].items[0], &r0[i].items[1], &r1[i].items[0], &r1[i].items[1]};
    for (int k = 0; k < 4; ++k) {
      EXPECT_EQ(whole[i].items[static_cast<size_t>(k)].clip_id, parts[k]->clip_id);
      EXPECT_TRUE(torch::equal(whole[i].items[static_cast<size_t>(k)].feats, parts[k]->feats));
    }
  }
}

TEST_F(LoaderTest, AWorkerErrorReachesTheCaller) {
  config::Config cfg = testing::small_config(16);
  auto clips = testing::make_clips(8, 5.0, 2.0);
  auto wrong = std::make_shared<testing::FakeSource>(std::vector<int64_t>{3, 5}, 10);
  auto ds = std::make_shared<Ego4dDataset>(cfg, true, std::vector<std::string>{"train"}, clips, wrong);
  LoaderOptions o;
  o.batch_size = 2;
  o.num_workers = 2;
  DataLoader loader(ds, o, 4);
  loader.start_epoch(0);
  EXPECT_THROW(loader.next(), Error);
}

}  // namespace
}  // namespace asl::data
