// Data-parallel training and evaluation under `mpirun -np 2` (docs/cluster.md): two ranks of
// batch b train exactly as one process of batch 2b (same per-step losses, normalizer,
// parameters and EMA, with the gradient all-reduce started from hooks or after backward);
// evaluation gives the same predictions with 1 and 2 ranks; a stop request on one rank stops
// both after the same step with a checkpoint that --resume auto continues from, as if never
// stopped.
#include <gtest/gtest.h>
#include <mpi.h>
#include <torch/torch.h>

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <map>
#include <mutex>
#include <set>
#include <sstream>

#include "cluster/make_communicator.h"
#include "cluster/runtime.h"
#include "data/sharding.h"
#include "common/test_util.h"
#include "common/wave_source.h"
#include "core/error.h"
#include "core/fs.h"
#include "data/dataset_fixtures.h"
#include "infer/distributed.h"
#include "infer/predict.h"
#include "train/stop_signal.h"
#include "train/trainer.h"

namespace asl::train {
namespace {

namespace fs = std::filesystem;

const cluster::Runtime& runtime() { return *cluster::Runtime::current(); }

using asl::testing::WaveSource;

// The golden-parity network; no dropout, so that the two runs draw nothing differently.
config::Config tiny_config(int64_t batch, bool overlap) {
  return config::load_config(
      std::string(ASL_SOURCE_DIR) + "/tests/model/golden/config.yaml",
      {"loader.batch_size=" + std::to_string(batch), "loader.num_workers=0", "opt.epochs=1",
       "opt.warmup_epochs=1", "init_rand_seed=11", "train_cfg.dropout=0", "train_cfg.droppath=0", "model.xl.dropout=0",
       std::string("dist.overlap=") + (overlap ? "true" : "false"), "dist.bucket_mb=0.05",
       "dist.device=cpu"});  // the MPI path, and exact comparisons, on any machine
}

std::shared_ptr<const data::ClipAnnotations> clips() {
  // 24 clips, 18 in "train": 4 global batches of 4 per epoch (drop_last).
  return data::testing::make_clips(24, WaveSource::kSteps / 1.875, 1.875);
}

// The same folder name on every rank (rank 0 decides, the others follow).
std::string shared_dir(const std::string& name) {
  const std::string dir = ::testing::TempDir() + "/asl_dp_" + name;
  if (runtime().is_root()) fs::remove_all(dir);
  MPI_Barrier(MPI_COMM_WORLD);
  return dir;
}

std::vector<nlohmann::json> step_lines(const std::string& dir) {
  std::vector<nlohmann::json> out;
  std::istringstream in(read_file(dir + "/steps.jsonl"));
  for (std::string line; std::getline(in, line);) out.push_back(nlohmann::json::parse(line));
  return out;
}

// Attention key biases (key.bias, key_norm.bias) have a gradient of exactly zero in exact
// arithmetic (softmax ignores a shift shared by all keys), so theirs is float32 round-off,
// which AdamW normalizes into full-size steps of either sign. No two summation orders agree
// on it; those parameters are held to Adam's bound instead: |difference| <= steps x peak lr.
bool round_off_driven(const std::string& name) {
  const auto ends = [&](const std::string& s) {
    return name.size() >= s.size() && name.compare(name.size() - s.size(), s.size(), s) == 0;
  };
  return ends("attn.key.bias") || ends("attn.key_norm.bias");
}

double relative(double a, double b) { return std::abs(a - b) / std::max(std::abs(b), 1e-12); }

double relative(const at::Tensor& a, const at::Tensor& b) {
  const double scale = std::max(b.norm().item<double>(), 1e-12);
  return (a - b).norm().item<double>() / scale;
}

TrainerOptions options(const std::string& dir, cluster::Communicator* comm,
                       const std::string& resume = "") {
  TrainerOptions o;
  o.output_dir = dir;
  o.comm = comm;
  o.resume = resume;
  return o;
}

class DataParallel : public ::testing::TestWithParam<bool> {};

TEST_P(DataParallel, TwoRanksOfBatchTwoTrainAsOneProcessOfBatchFour) {
  ASSERT_EQ(runtime().size(), 2) << "run with mpirun -np 2";
  const bool overlap = GetParam();
  const auto source = std::make_shared<WaveSource>();
  const std::string two = shared_dir(std::string("two_") + (overlap ? "hooks" : "blocking"));
  const std::string one = shared_dir(std::string("one_") + (overlap ? "hooks" : "blocking"));

  auto comm = cluster::make_communicator(runtime(), "cpu");
  Trainer parallel(tiny_config(2, overlap), clips(), source, options(two, comm.get()));
  ASSERT_EQ(parallel.iterations_per_epoch(), 4);
  parallel.run();

  // Rank 0's checks run in a lambda: a failed ASSERT leaves the lambda, not the test, so
  // rank 0 still meets rank 1 in the collectives below (never one rank waiting alone).
  if (runtime().is_root()) [&] {
    cluster::LocalCommunicator local;
    Trainer single(tiny_config(4, overlap), clips(), source, options(one, &local));
    ASSERT_EQ(single.iterations_per_epoch(), 4);
    single.run();

    const auto a = step_lines(one), b = step_lines(two);
    ASSERT_EQ(a.size(), 8u);
    ASSERT_EQ(b.size(), a.size());
    for (size_t i = 0; i < a.size(); ++i) {
      EXPECT_EQ(a[i]["num_pos"], b[i]["num_pos"]) << "step " << i;
      for (const char* key : {"cls_loss", "reg_loss", "al_loss", "final_loss", "grad_norm",
                              "loss_normalizer", "lr"}) {
        EXPECT_LE(relative(b[i][key].get<double>(), a[i][key].get<double>()), 1e-5)
            << "step " << i << " " << key << ": " << b[i][key] << " vs " << a[i][key];
      }
    }
    EXPECT_LE(relative(parallel.step().normalizer().value(), single.step().normalizer().value()), 1e-5);
    const auto pa = single.step().model()->named_parameters();
    const auto pb = parallel.step().model()->named_parameters();
    const double adam_bound = 2 * 8 * 1e-4;  // two runs moving apart: 8 steps at the peak rate each
    int exact = 0;
    for (const auto& p : pa) {
      if (round_off_driven(p.key())) {
        EXPECT_LE((pb[p.key()] - p.value()).abs().max().item<double>(), adam_bound) << p.key();
      } else {
        EXPECT_LE(relative(pb[p.key()], p.value()), 1e-5) << p.key();
        ++exact;
      }
    }
    EXPECT_GT(exact, 100);
    const auto& ea = single.step().ema().values();
    const auto& eb = parallel.step().ema().values();
    ASSERT_EQ(ea.size(), eb.size());
    for (size_t i = 0; i < ea.size(); ++i) {
      if (round_off_driven(ea[i].first)) continue;
      EXPECT_LE(relative(eb[i].second, ea[i].second), 1e-5) << ea[i].first;
    }
  }();
  // Both ranks hold the same parameters (rank 1's all-reduced copy equals rank 0's).
  for (const auto& p : parallel.step().model()->named_parameters()) {
    at::Tensor mine = p.value().detach().clone();
    at::Tensor root = mine.clone();
    comm->broadcast(root, 0);
    EXPECT_TRUE(torch::equal(mine, root)) << p.key();
  }
  MPI_Barrier(MPI_COMM_WORLD);
}

INSTANTIATE_TEST_SUITE_P(GradientSync, DataParallel, ::testing::Values(true, false),
                         [](const auto& info) { return info.param ? "Hooks" : "Blocking"; });

// Wave features that count how often each clip is read from them.
class CountingSource : public WaveSource {
 public:
  std::vector<data::FeatureMatrix> read(const data::Clip& clip) const override {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      ++reads_[clip.clip_id];
    }
    return WaveSource::read(clip);
  }
  std::map<std::string, int> reads() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return reads_;
  }

 private:
  mutable std::mutex mutex_;
  mutable std::map<std::string, int> reads_;
};

TEST(FixedSharding, EachRankHoldsAndReadsOnlyItsOwnPart) {
  ASSERT_EQ(runtime().size(), 2) << "run with mpirun -np 2";
  config::Config cfg = tiny_config(2, true);
  cfg.dist.sharding = "fixed";
  cfg.store.in_memory = true;
  const auto source = std::make_shared<CountingSource>();
  auto comm = cluster::make_communicator(runtime(), "cpu");
  Trainer trainer(cfg, clips(), source, options(shared_dir("fixed"), comm.get()));
  // No ASSERT before the allgather below: a rank leaving early would leave the other waiting.
  EXPECT_EQ(trainer.iterations_per_epoch(), 4);  // 18 train clips: parts of 9, 4 batches of 2

  // Read once each, at start: exactly the clips of this rank's part.
  const data::Ego4dDataset train(cfg, true, cfg.train_split, clips(), source);
  data::ShardOptions so;
  so.num_samples = train.size();
  so.seed = static_cast<uint64_t>(cfg.init_rand_seed);
  so.rank = runtime().rank();
  so.world_size = 2;
  std::map<std::string, int> expected;
  for (int64_t i : data::fixed_part(so)) expected[train.clip(i).clip_id] = 1;
  EXPECT_EQ(expected.size(), 9u);
  EXPECT_EQ(source->reads(), expected);

  trainer.run();  // 2 epochs: every batch from memory
  EXPECT_EQ(source->reads(), expected);

  // The two parts are disjoint and together the whole split.
  std::string mine;
  for (const auto& [id, n] : expected) mine += id + "\n";
  const auto both = comm->allgather_bytes(mine);
  std::set<std::string> all;
  size_t total = 0;
  for (const std::string& text : both) {
    std::istringstream in(text);
    for (std::string id; std::getline(in, id); ++total) all.insert(id);
  }
  EXPECT_EQ(total, 18u);
  EXPECT_EQ(all.size(), 18u);
  MPI_Barrier(MPI_COMM_WORLD);
}

TEST(DistributedEvaluation, SamePredictionsWithOneAndTwoRanks) {
  const config::Config cfg = tiny_config(2, true);
  const auto source = std::make_shared<WaveSource>();
  auto comm = cluster::make_communicator(runtime(), "cpu");
  torch::manual_seed(5);  // the same random weights on both ranks
  infer::Predictor predictor(cfg, clips(), {"val"}, source);
  ASSERT_EQ(predictor.size(), 6);
  for (int n = 0; n < 3; ++n) {  // shares of 6 clips over 2 ranks, and uneven ones
    const auto share = infer::evaluation_share(5 + n, 1, 2);
    EXPECT_EQ(static_cast<int64_t>(share.size()), (5 + n) / 2);
  }
  const eval::PredictionList gathered = infer::predict_sharded(predictor, comm.get());
  if (runtime().is_root()) {
    const eval::PredictionList alone = predictor.run();
    ASSERT_EQ(gathered.size(), alone.size());  // no collective follows in this test
    EXPECT_EQ(infer::encode_predictions(gathered), infer::encode_predictions(alone));
    EXPECT_FALSE(alone.front().predictions.empty());
  } else {
    EXPECT_TRUE(gathered.empty());
  }
}

TEST(StopSignal, OneRankAsksBothStopAfterTheSameStepAndResumeExactly) {
  const auto source = std::make_shared<WaveSource>();
  auto comm = cluster::make_communicator(runtime(), "cpu");
  const std::string straight = shared_dir("stop_straight"), stopped = shared_dir("stop_stopped");
  {
    Trainer t(tiny_config(2, true), clips(), source, options(straight, comm.get()));
    t.run();
  }
  {
    Trainer t(tiny_config(2, true), clips(), source, options(stopped, comm.get()));
    request_stop(runtime().rank() == 1);  // a SIGTERM that reached rank 1 only
    bool interrupted = false;
    try {
      t.run();
    } catch (const Interrupted& e) {
      interrupted = true;
      EXPECT_HAS(std::string(e.what()), "--resume auto");
    }
    request_stop(false);
    EXPECT_TRUE(interrupted);
    EXPECT_EQ(t.global_step(), 1);  // both stopped after the first step
  }
  MPI_Barrier(MPI_COMM_WORLD);
  Trainer resumed(tiny_config(2, true), clips(), source, options(stopped, comm.get(), "auto"));
  EXPECT_EQ(resumed.global_step(), 1);
  EXPECT_EQ(resumed.position(), 1);
  resumed.run();
  if (runtime().is_root()) [&] {  // a lambda: its ASSERT cannot skip the barrier below
    const auto a = step_lines(straight), b = step_lines(stopped);
    ASSERT_EQ(a.size(), b.size());
    for (size_t i = 0; i < a.size(); ++i) {
      for (const char* key : {"step", "final_loss", "grad_norm", "loss_normalizer", "lr"}) {
        EXPECT_EQ(a[i][key], b[i][key]) << "step " << i << " " << key;
      }
    }
  }();
  MPI_Barrier(MPI_COMM_WORLD);
}

// A SIGTERM that reaches rank 0 while it writes an epoch's checkpoint (no step follows in the
// last epoch, and the next one may be minutes away): every rank stops right after the write,
// the epoch's checkpoint kept, and --resume auto continues exactly. The failpoint raises a
// real SIGTERM inside write_checkpoint, which only rank 0 calls.
TEST(StopSignal, ASignalDuringACheckpointWriteStopsEveryRankAfterIt) {
  install_stop_handlers();
  const auto source = std::make_shared<WaveSource>();
  auto comm = cluster::make_communicator(runtime(), "cpu");
  const std::string straight = shared_dir("ckstop_straight"), stopped = shared_dir("ckstop_stopped");
  {
    Trainer t(tiny_config(2, true), clips(), source, options(straight, comm.get()));
    t.run();
  }
  ::setenv("ASL_FAILPOINT", "sigterm_in_checkpoint@1", 1);
  std::string message;
  int64_t stopped_at = -1;
  {
    Trainer t(tiny_config(2, true), clips(), source, options(stopped, comm.get()));
    try {
      t.run();
    } catch (const Interrupted& e) {
      message = e.what();
    }
    stopped_at = t.global_step();
  }
  ::unsetenv("ASL_FAILPOINT");
  const bool asked = stop_requested();
  request_stop(false);
  EXPECT_EQ(asked, runtime().is_root());  // the signal reached rank 0 only
  EXPECT_HAS(message, "during the checkpoint write of epoch 1");
  EXPECT_HAS(message, "--resume auto");
  EXPECT_EQ(stopped_at, 4);  // every rank: the end of epoch 1, no step of epoch 2
  MPI_Barrier(MPI_COMM_WORLD);
  Trainer resumed(tiny_config(2, true), clips(), source, options(stopped, comm.get(), "auto"));
  EXPECT_EQ(resumed.epoch(), 1);
  EXPECT_EQ(resumed.global_step(), 4);
  resumed.run();
  if (runtime().is_root()) [&] {
    const auto a = step_lines(straight), b = step_lines(stopped);
    ASSERT_EQ(a.size(), b.size());
    for (size_t i = 0; i < a.size(); ++i) {
      for (const char* key : {"step", "final_loss", "grad_norm", "lr"}) {
        EXPECT_EQ(a[i][key], b[i][key]) << "step " << i << " " << key;
      }
    }
  }();
  MPI_Barrier(MPI_COMM_WORLD);
}

// Rank 0 chooses the checkpoint of --resume auto; every rank restores that file, so ranks
// whose output folders differ (rank 1's holds an older last.ckpt) resume the same step. A
// rank that reads another state there, or cannot read it, stops the job on every rank with
// one message naming it: never a hang.
TEST(Resume, EveryRankResumesTheCheckpointRankZeroChoseOrAllStop) {
  const auto source = std::make_shared<WaveSource>();
  auto comm = cluster::make_communicator(runtime(), "cpu");
  const std::string base = shared_dir("resume_views");
  const std::string x = base + "/x", y = base + "/y";
  const std::string mine = runtime().is_root() ? x : y;  // each rank's own --output
  const auto run_one_epoch = [&](const std::string& resume) {
    TrainerOptions o = options(mine, comm.get(), resume);
    o.stop_after_epochs = 1;
    Trainer t(tiny_config(2, true), clips(), source, o);
    t.run();
    return t.global_step();
  };
  EXPECT_EQ(run_one_epoch(""), 4);
  if (runtime().is_root()) {  // the older view: epoch 1 in y
    fs::create_directories(y);
    fs::copy_file(x + "/last.ckpt", y + "/last.ckpt", fs::copy_options::overwrite_existing);
  }
  MPI_Barrier(MPI_COMM_WORLD);
  EXPECT_EQ(run_one_epoch("auto"), 8);  // both ranks continued x's epoch 1

  {  // rank 1's own folder holds epoch 1, rank 0's epoch 2: both resume rank 0's choice
    Trainer t(tiny_config(2, true), clips(), source, options(mine, comm.get(), "auto"));
    EXPECT_EQ(t.global_step(), 8);
    EXPECT_EQ(t.epoch(), 2);
  }

  // A relative --output that means another folder on rank 1 (another working directory).
  const fs::path start = fs::current_path();
  const auto view = [&](const std::string& name, const std::string& target) {
    const std::string dir = base + "/" + name + "_r" + std::to_string(runtime().rank());
    fs::create_directories(dir);
    if (!target.empty()) fs::create_directory_symlink(target, dir + "/run");
    else fs::create_directories(dir + "/run");
    fs::current_path(dir);
  };
  view("older", runtime().is_root() ? x : y);
  std::string message = asl::testing::error_of(
      [&] { Trainer t(tiny_config(2, true), clips(), source, options("run", comm.get(), "auto")); });
  EXPECT_HAS(message, "the ranks read different training states from run/last.ckpt");
  EXPECT_HAS(message, "rank 1 (" + runtime().hostname() + ") epoch 1, step 4");
  EXPECT_HAS(message, "rank 0 (" + runtime().hostname() + ") epoch 2, step 8");
  fs::current_path(start);
  MPI_Barrier(MPI_COMM_WORLD);

  view("missing", runtime().is_root() ? x : "");
  message = asl::testing::error_of(
      [&] { Trainer t(tiny_config(2, true), clips(), source, options("run", comm.get(), "auto")); });
  EXPECT_HAS(message, "rank 1 (" + runtime().hostname() + ") cannot resume from run/last.ckpt");
  fs::current_path(start);
  MPI_Barrier(MPI_COMM_WORLD);
}

// Rank 0 writing a checkpoint for longer than dist.timeout_s: the other rank waits for it in
// a barrier under dist.root_timeout_s, so the job goes on (it used to abort).
TEST(RootPhases, ASlowCheckpointWriteDoesNotTripTheCollectiveTimeout) {
  const auto source = std::make_shared<WaveSource>();
  auto comm = cluster::make_communicator(runtime(), "cpu", "auto", /*timeout_s=*/3.0);
  const std::string dir = shared_dir("slow_checkpoint");
  if (runtime().is_root()) setenv("ASL_FAILPOINT", "checkpoint_slow@6", 1);
  Trainer t(tiny_config(2, true), clips(), source, options(dir, comm.get()));
  t.run();
  unsetenv("ASL_FAILPOINT");
  EXPECT_EQ(t.global_step(), 8);
  MPI_Barrier(MPI_COMM_WORLD);
}

}  // namespace
}  // namespace asl::train

#include "common/mpi_gtest_main.h"
