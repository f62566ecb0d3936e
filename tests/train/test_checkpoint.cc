// Training checkpoints: every field round-trips, writes are atomic, damaged and foreign
// files are refused naming them, keep-K rotation and the --resume auto choice.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <sys/resource.h>

#include <csignal>
#include <cstring>
#include <filesystem>
#include <fstream>

#include "common/test_util.h"
#include "core/error.h"
#include "core/fs.h"
#include "model/native_checkpoint.h"
#include "train/checkpoint.h"

namespace asl::train {
namespace {

namespace fs = std::filesystem;

std::string fresh_dir(const std::string& name) {
  const std::string dir = ::testing::TempDir() + "/asl_ckpt_" + name;
  fs::remove_all(dir);
  fs::create_directories(dir);
  return dir;
}

using asl::testing::error_of;

TrainingCheckpoint sample_checkpoint(int64_t epoch) {
  torch::manual_seed(epoch);
  TrainingCheckpoint c;
  c.model = {{"a.weight", torch::randn({3, 2})}, {"b.bias", torch::randn({4})}};
  c.model_ema = {{"a.weight", torch::randn({3, 2})}, {"b.bias", torch::randn({4})}};
  c.buffers = {{"pe", torch::arange(6).to(torch::kFloat)}};
  c.ema_buffers = {{"pe", torch::arange(6).to(torch::kFloat) * 0.5}};
  c.optimizer = {{"a.weight", 7, torch::randn({3, 2}), torch::rand({3, 2})}};
  c.epoch = epoch;
  c.global_step = 12 * epoch;
  c.schedule_step = 12 * epoch;
  c.schedule_lr = 1.2345678901234567e-4;
  c.loss_normalizer = 123.456789012345;
  c.rng_cpu = at::detail::getDefaultCPUGenerator().get_state();
  c.loader_seed = 765421321;
  c.loader_position = 0;
  c.config_yaml = "init_rand_seed: 1\nmodel: {fpn_dim: 32}\n";
  return c;
}

void expect_same(const model::NamedTensors& a, const model::NamedTensors& b) {
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i) {
    EXPECT_EQ(a[i].first, b[i].first);
    EXPECT_TRUE(torch::equal(a[i].second, b[i].second)) << a[i].first;
  }
}

TEST(Checkpoint, RoundTripsEveryField) {
  const std::string path = fresh_dir("roundtrip") + "/epoch_0003.ckpt";
  const TrainingCheckpoint c = sample_checkpoint(3);
  write_checkpoint(path, c);
  const TrainingCheckpoint r = read_checkpoint(path);
  expect_same(r.model, c.model);
  expect_same(r.model_ema, c.model_ema);
  expect_same(r.buffers, c.buffers);
  expect_same(r.ema_buffers, c.ema_buffers);
  ASSERT_EQ(r.optimizer.size(), 1u);
  EXPECT_EQ(r.optimizer[0].name, "a.weight");
  EXPECT_EQ(r.optimizer[0].step, 7);
  EXPECT_TRUE(torch::equal(r.optimizer[0].exp_avg, c.optimizer[0].exp_avg));
  EXPECT_TRUE(torch::equal(r.optimizer[0].exp_avg_sq, c.optimizer[0].exp_avg_sq));
  EXPECT_EQ(r.epoch, 3);
  EXPECT_EQ(r.global_step, 36);
  EXPECT_EQ(r.schedule_step, 36);
  EXPECT_EQ(r.schedule_lr, c.schedule_lr);  // bit for bit
  EXPECT_EQ(r.loss_normalizer, c.loss_normalizer);
  EXPECT_TRUE(torch::equal(r.rng_cpu, c.rng_cpu));
  EXPECT_EQ(r.loader_seed, 765421321);
  EXPECT_EQ(r.loader_position, 0);
  EXPECT_EQ(r.config_yaml, c.config_yaml);
  EXPECT_EQ(r.source, "asl train");
  EXPECT_TRUE(is_training_checkpoint(path));

  // The weights part is the native layout: --init / asl eval readers take it as is.
  const model::NativeWeights w = model::read_native_weights(path);
  expect_same(w.model, c.model);
  expect_same(w.model_ema, c.model_ema);
  EXPECT_EQ(w.epoch, 3);
}

TEST(Checkpoint, FailedWriteLeavesThePreviousFileIntact) {
  const std::string dir = fresh_dir("atomic");
  const std::string path = dir + "/last.ckpt";
  write_checkpoint(path, sample_checkpoint(1));
  const std::string before = read_file(path);
  // A full disk: files of this process may not grow beyond 4 kB (the RNG state alone is
  // 5 kB), so the save fails half-way through.
  struct rlimit saved {};
  getrlimit(RLIMIT_FSIZE, &saved);
  const auto old_handler = std::signal(SIGXFSZ, SIG_IGN);
  struct rlimit small = saved;
  small.rlim_cur = 4096;
  setrlimit(RLIMIT_FSIZE, &small);
  const std::string msg = error_of([&] { write_checkpoint(path, sample_checkpoint(2)); });
  setrlimit(RLIMIT_FSIZE, &saved);
  std::signal(SIGXFSZ, old_handler);
  EXPECT_HAS(msg, path);
  EXPECT_TRUE(read_file(path) == before);
  EXPECT_EQ(read_checkpoint(path).epoch, 1);
  // no temporary left behind
  int files = 0;
  for (const auto& e : fs::directory_iterator(dir)) files += e.is_regular_file();
  EXPECT_EQ(files, 1);
}

TEST(Checkpoint, TruncatedForeignAndWeightsOnlyFilesAreRefusedNamingThem) {
  const std::string dir = fresh_dir("refuse");
  const std::string path = dir + "/last.ckpt";
  write_checkpoint(path, sample_checkpoint(1));
  const std::string bytes = read_file(path);
  const std::string truncated = dir + "/truncated.ckpt";
  write_file_atomic(truncated, bytes.substr(0, bytes.size() / 2));
  std::string msg = error_of([&] { read_checkpoint(truncated); });
  EXPECT_HAS(msg, truncated);
  EXPECT_HAS(msg, "truncated");

  const std::string foreign = dir + "/foreign.ckpt";
  write_file_atomic(foreign, "not a checkpoint at all\n");
  msg = error_of([&] { read_checkpoint(foreign); });
  EXPECT_HAS(msg, foreign);

  // A zip archive of another kind (a bare torch::save tensor) is foreign too.
  const std::string other = dir + "/other.pt";
  torch::save(torch::ones({2}), other);
  msg = error_of([&] { read_checkpoint(other); });
  EXPECT_HAS(msg, other);
  EXPECT_HAS(msg, "asl-checkpoint");

  const std::string weights = dir + "/imported.ckpt";
  model::NativeWeights w;
  w.model = {{"a.weight", torch::ones({2})}};
  model::write_native_weights(weights, w);
  EXPECT_FALSE(is_training_checkpoint(weights));
  msg = error_of([&] { read_checkpoint(weights); });
  EXPECT_HAS(msg, weights);
  EXPECT_HAS(msg, "--init");

  msg = error_of([&] { read_checkpoint(dir + "/missing.ckpt"); });
  EXPECT_HAS(msg, "missing.ckpt");
}

// One bit flipped in a weight after the write (a bad disk, a bad copy): Torch's reader would
// load the changed value; the record's CRC-32 refuses it, naming the file and record.
TEST(Checkpoint, AFlippedBitInAWeightIsRefusedByItsChecksum) {
  const std::string dir = fresh_dir("flipped");
  const std::string path = dir + "/last.ckpt";
  TrainingCheckpoint c = sample_checkpoint(1);
  const float probe = 1234.5678f;
  c.model.emplace_back("probe.weight", torch::full({8}, probe));
  write_checkpoint(path, c);
  EXPECT_EQ(read_checkpoint(path).epoch, 1);

  std::string bytes = read_file(path);
  char needle[4];
  std::memcpy(needle, &probe, 4);
  const size_t at = bytes.find(std::string(needle, 4));
  ASSERT_NE(at, std::string::npos);
  bytes[at + 1] = static_cast<char>(bytes[at + 1] ^ 0x10);
  const std::string flipped = dir + "/flipped.ckpt";
  write_file_atomic(flipped, bytes);
  for (const std::string& msg : {error_of([&] { read_checkpoint(flipped); }),
                                 error_of([&] { model::read_native_weights(flipped); })}) {
    EXPECT_HAS(msg, flipped);
    EXPECT_HAS(msg, "does not match its CRC-32 checksum");
    EXPECT_HAS(msg, "epoch_NNNN.ckpt");
  }
}

TEST(Checkpoint, RotationKeepsTheNewestK) {
  const std::string dir = fresh_dir("rotate");
  for (int e = 1; e <= 5; ++e) write_file_atomic(dir + "/" + epoch_checkpoint_name(e), "x");
  write_file_atomic(dir + "/last.ckpt", "x");
  write_file_atomic(dir + "/epoch_notes.txt", "x");
  EXPECT_EQ(epoch_checkpoint_name(3), "epoch_0003.ckpt");
  const auto removed = rotate_checkpoints(dir, 2);
  EXPECT_EQ(removed, (std::vector<std::string>{"epoch_0003.ckpt", "epoch_0002.ckpt", "epoch_0001.ckpt"}));
  EXPECT_TRUE(path_exists(dir + "/epoch_0005.ckpt"));
  EXPECT_TRUE(path_exists(dir + "/epoch_0004.ckpt"));
  EXPECT_TRUE(path_exists(dir + "/last.ckpt"));
  EXPECT_TRUE(path_exists(dir + "/epoch_notes.txt"));
  EXPECT_TRUE(rotate_checkpoints(dir, 0).empty());  // keep <= 0: keep all
}

TEST(Checkpoint, ResumeAutoPicksTheNewestCompleteCheckpoint) {
  const std::string dir = fresh_dir("auto");
  EXPECT_FALSE(find_resume_checkpoint(dir).has_value());
  write_checkpoint(dir + "/" + epoch_checkpoint_name(1), sample_checkpoint(1));
  write_checkpoint(dir + "/" + epoch_checkpoint_name(2), sample_checkpoint(2));
  EXPECT_EQ(find_resume_checkpoint(dir).value(), dir + "/epoch_0002.ckpt");
  write_checkpoint(dir + "/last.ckpt", sample_checkpoint(3));
  EXPECT_EQ(find_resume_checkpoint(dir).value(), dir + "/last.ckpt");
  // A damaged newest file is skipped: the next complete one is used.
  write_file_atomic(dir + "/last.ckpt", read_file(dir + "/last.ckpt").substr(0, 100));
  EXPECT_EQ(find_resume_checkpoint(dir).value(), dir + "/epoch_0002.ckpt");
}

TEST(Checkpoint, AnotherArchitectureIsRefusedNamingTheKey) {
  config::Config cfg = config::load_config_text("model: {fpn_dim: 32}\n", "test");
  const std::string yaml = config::to_yaml(cfg);
  EXPECT_NO_THROW(check_same_architecture("a.ckpt", yaml, cfg));
  cfg.opt.learning_rate = 0.5;  // not architecture
  EXPECT_NO_THROW(check_same_architecture("a.ckpt", yaml, cfg));
  cfg.model.fpn_dim = 64;
  const std::string msg = error_of([&] { check_same_architecture("a.ckpt", yaml, cfg); });
  EXPECT_HAS(msg, "a.ckpt");
  EXPECT_HAS(msg, "model.fpn_dim");
}

}  // namespace
}  // namespace asl::train
