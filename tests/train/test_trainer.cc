// asl train's loop: the files it writes, and exact resume (2 epochs in one go equal 1 epoch,
// resume, 1 epoch: per-step losses and final weights), with and without loader workers; the
// NaN/Inf policy and the metrics endpoint of a run.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include <cmath>
#include <filesystem>
#include <limits>
#include <sstream>

#include "common/metrics_scrape.h"
#include "common/test_util.h"
#include "common/wave_source.h"
#include "core/fs.h"
#include "data/dataset_fixtures.h"
#include "monitor/exporter.h"
#include "train/checkpoint.h"
#include "train/stop_signal.h"
#include "train/trainer.h"

namespace asl::train {
namespace {

namespace fs = std::filesystem;
using asl::testing::error_of;

using asl::testing::LabelMap;
using asl::testing::WaveSource;

// The golden-parity network (tests/model/golden/config.yaml), 2 epochs of 4 iterations.
config::Config tiny_config(int workers) {
  return config::load_config(std::string(ASL_SOURCE_DIR) + "/tests/model/golden/config.yaml",
                             {"loader.batch_size=2", "loader.num_workers=" + std::to_string(workers),
                              "opt.epochs=1", "opt.warmup_epochs=1", "checkpoint.keep=5",
                              "init_rand_seed=7",
                              // bit-exact resumes and CPU comparisons, even on a GPU machine
                              "dist.device=cpu"});
}

std::shared_ptr<const data::ClipAnnotations> clips() {
  // 12 clips, 9 in "train": 4 batches of 2 per epoch (drop_last).
  return data::testing::make_clips(12, WaveSource::kSteps / 1.875, 1.875);
}

std::string fresh_dir(const std::string& name) {
  const std::string dir = ::testing::TempDir() + "/asl_trainer_" + name;
  fs::remove_all(dir);
  return dir;
}

std::vector<nlohmann::json> step_lines(const std::string& dir) {
  std::vector<nlohmann::json> out;
  std::istringstream in(read_file(dir + "/steps.jsonl"));
  std::string line;
  while (std::getline(in, line)) out.push_back(nlohmann::json::parse(line));
  return out;
}

TrainerOptions options(const std::string& dir, const std::string& resume = "", int64_t stop = 0) {
  TrainerOptions o;
  o.output_dir = dir;
  o.resume = resume;
  o.stop_after_epochs = stop;
  return o;
}

class ExactResume : public ::testing::TestWithParam<int> {};

TEST_P(ExactResume, TwoEpochsEqualOneResumeOne) {
  const int workers = GetParam();
  const config::Config cfg = tiny_config(workers);
  const auto source = std::make_shared<WaveSource>();
  const std::string straight = fresh_dir("straight" + std::to_string(workers));
  const std::string resumed = fresh_dir("resumed" + std::to_string(workers));

  Trainer a(cfg, clips(), source, options(straight));
  ASSERT_EQ(a.iterations_per_epoch(), 4);
  ASSERT_EQ(a.total_epochs(), 2);
  std::vector<int64_t> hook_epochs;
  a.set_epoch_end_hook([&](const EpochEnd& e) { hook_epochs.push_back(e.epoch); });
  a.run();
  EXPECT_EQ(hook_epochs, (std::vector<int64_t>{1, 2}));
  EXPECT_EQ(a.global_step(), 8);

  {
    Trainer b1(cfg, clips(), source, options(resumed, "", /*stop=*/1));
    b1.run();
    EXPECT_EQ(b1.epoch(), 1);
  }
  Trainer b2(cfg, clips(), source, options(resumed, "auto"));
  EXPECT_EQ(b2.resumed_from(), resumed + "/last.ckpt");
  EXPECT_EQ(b2.epoch(), 1);
  b2.run();

  const auto la = step_lines(straight), lb = step_lines(resumed);
  ASSERT_EQ(la.size(), 8u);
  ASSERT_EQ(lb.size(), 8u);
  for (size_t i = 0; i < la.size(); ++i) {
    EXPECT_EQ(la[i]["step"], static_cast<int64_t>(i));
    EXPECT_EQ(la[i]["epoch"], static_cast<int64_t>(i / 4));
    for (const char* key : {"step", "epoch", "lr", "cls_loss", "reg_loss", "al_loss", "final_loss",
                            "grad_norm", "num_pos", "loss_normalizer"}) {
      EXPECT_EQ(la[i][key], lb[i][key]) << "step " << i << " " << key;
    }
    EXPECT_TRUE(std::isfinite(la[i]["final_loss"].get<double>()));
    EXPECT_TRUE(lb[i].contains("samples_per_s"));
    EXPECT_TRUE(lb[i].contains("data_wait_s"));
  }
  EXPECT_EQ(la[0]["lr"], 0.0);  // the warm-up starts at 0

  const auto pa = a.step().model()->named_parameters();
  const auto pb = b2.step().model()->named_parameters();
  for (const auto& p : pa) EXPECT_TRUE(torch::equal(p.value(), pb[p.key()])) << p.key();
  const auto& ea = a.step().ema().values();
  const auto& eb = b2.step().ema().values();
  ASSERT_EQ(ea.size(), eb.size());
  for (size_t i = 0; i < ea.size(); ++i) EXPECT_TRUE(torch::equal(ea[i].second, eb[i].second)) << ea[i].first;

  for (const char* name : {"last.ckpt", "epoch_0001.ckpt", "epoch_0002.ckpt", "config.yaml"}) {
    EXPECT_TRUE(path_exists(straight + "/" + std::string(name))) << name;
  }
  const TrainingCheckpoint last = read_checkpoint(straight + "/last.ckpt");
  EXPECT_EQ(last.epoch, 2);
  EXPECT_EQ(last.global_step, 8);
  EXPECT_EQ(last.schedule_step, 8);
  EXPECT_EQ(last.loader_seed, 7);
  EXPECT_EQ(last.loss_normalizer, a.step().normalizer().value());
}

INSTANTIATE_TEST_SUITE_P(Workers, ExactResume, ::testing::Values(0, 2));

TEST(Trainer, RefusesToOverwriteARunAndResumesOnlyTheSameArchitecture) {
  const auto source = std::make_shared<WaveSource>();
  const std::string dir = fresh_dir("guard");
  config::Config cfg = tiny_config(0);
  {
    Trainer t(cfg, clips(), source, options(dir, "", 1));
    t.run();
  }
  std::string msg = error_of([&] { Trainer t(cfg, clips(), source, options(dir)); });
  EXPECT_HAS(msg, dir);
  EXPECT_HAS(msg, "--resume auto");

  config::Config other = cfg;
  other.model.head_dim = 16;
  msg = error_of([&] { Trainer t(other, clips(), source, options(dir, "auto")); });
  EXPECT_HAS(msg, "last.ckpt");
  EXPECT_HAS(msg, "model.head_dim");

  // --init takes the weights of a training checkpoint.
  TrainerOptions o = options(fresh_dir("init"));
  o.init = dir + "/last.ckpt";
  Trainer t(cfg, clips(), source, o);
  const TrainingCheckpoint c = read_checkpoint(dir + "/last.ckpt");
  for (const auto& [name, value] : c.model) EXPECT_TRUE(value.device().is_cpu()) << name;
  for (const auto& s : c.optimizer) EXPECT_TRUE(s.exp_avg.device().is_cpu()) << s.name;
  const auto params = t.step().model()->named_parameters();
  for (const auto& [name, value] : c.model) EXPECT_TRUE(torch::equal(params[name], value)) << name;
  EXPECT_EQ(t.epoch(), 0);
}

TEST(Trainer, AMidEpochResumeKeepsTheSharding) {
  const auto source = std::make_shared<WaveSource>();
  const std::string dir = fresh_dir("sharding");
  const config::Config cfg = tiny_config(0);
  {
    Trainer t(cfg, clips(), source, options(dir));
    request_stop();  // stops after the first step, inside epoch 0
    EXPECT_THROW(t.run(), Interrupted);
    request_stop(false);
  }
  config::Config fixed = cfg;
  fixed.dist.sharding = "fixed";
  const std::string msg = error_of([&] { Trainer t(fixed, clips(), source, options(dir, "auto")); });
  EXPECT_HAS(msg, "last.ckpt");
  EXPECT_HAS(msg, "dist.sharding: epoch");
  Trainer same(cfg, clips(), source, options(dir, "auto"));  // the same sharding resumes
  EXPECT_EQ(same.position(), 1);
}

// The NaN/Inf policy (train_cfg.on_nonfinite): a step with a non-finite loss leaves weights,
// optimizer state and EMA untouched (skip) or ends the run (stop).
config::Config nonfinite_config(const std::string& policy) {
  config::Config cfg = tiny_config(0);
  cfg.train_cfg.on_nonfinite = policy;
  return cfg;
}

// Puts a NaN into the first parameter: every forward pass then gives a NaN loss.
void poison(Trainer& t) {
  torch::NoGradGuard no_grad;
  t.step().model()->parameters().front().view(-1)[0] = std::numeric_limits<float>::quiet_NaN();
}

TEST(NonFinite, SkipLeavesWeightsOptimizerAndEmaAsTheyWere) {
  const std::string dir = fresh_dir("nonfinite_skip");
  Trainer t(nonfinite_config("skip"), clips(), std::make_shared<WaveSource>(), options(dir, "", /*stop=*/1));
  poison(t);
  std::vector<at::Tensor> before;
  for (const auto& p : t.step().model()->parameters()) before.push_back(p.detach().clone());
  std::vector<at::Tensor> ema_before;
  for (const auto& [name, v] : t.step().ema().values()) ema_before.push_back(v.clone());
  t.run();

  const auto lines = step_lines(dir);
  ASSERT_EQ(lines.size(), 4u);
  for (const auto& l : lines) {
    EXPECT_FALSE(std::isfinite(l["final_loss"].is_number() ? l["final_loss"].get<double>() : NAN));
    EXPECT_EQ(l.value("skipped", false), true) << l.dump();
  }
  const auto after = t.step().model()->parameters();
  for (size_t i = 0; i < before.size(); ++i) {
    EXPECT_TRUE(torch::equal(before[i].nan_to_num(0), after[i].detach().nan_to_num(0))) << i;
  }
  const auto& ema_after = t.step().ema().values();
  for (size_t i = 0; i < ema_before.size(); ++i) {
    EXPECT_TRUE(torch::equal(ema_before[i].nan_to_num(0), ema_after[i].second.nan_to_num(0)))
        << ema_after[i].first;
  }
  EXPECT_TRUE(t.step().optimizer().state().empty());
  EXPECT_EQ(t.step().schedule().step_count(), 4);  // the schedule moves on
}

TEST(NonFinite, StopEndsTheRunAfterTheFirstSuchStep) {
  const std::string dir = fresh_dir("nonfinite_stop");
  Trainer t(nonfinite_config("stop"), clips(), std::make_shared<WaveSource>(), options(dir, "", /*stop=*/1));
  poison(t);
  const std::string message = asl::testing::error_of([&] { t.run(); });
  EXPECT_NE(message.find("train_cfg.on_nonfinite"), std::string::npos) << message;
  EXPECT_NE(message.find("step 0"), std::string::npos) << message;
  EXPECT_EQ(step_lines(dir).size(), 1u);
  EXPECT_TRUE(t.step().optimizer().state().empty());
}

// The live endpoint of a training run shows what steps.jsonl holds.
TEST(TrainMetrics, TheEndpointShowsTheLoggedStep) {
  monitor::ExporterOptions eo;
  eo.port = asl::testing::free_port();
  eo.run = "trainer";
  monitor::Exporter exporter(eo);
  const std::string dir = fresh_dir("metrics");
  Trainer t(nonfinite_config("skip"), clips(), std::make_shared<WaveSource>(), options(dir, "", /*stop=*/1));
  t.run();
  const auto lines = step_lines(dir);
  ASSERT_EQ(lines.size(), 4u);
  const std::string text = asl::testing::scrape(eo.port);
  const auto labels = [](LabelMap extra = {}) {
    LabelMap l{{"job", "ego4d_asl"}, {"rank", "0"}, {"run", "trainer"}};
    l.insert(extra.begin(), extra.end());
    return l;
  };
  using asl::testing::value_of;
  const nlohmann::json& last = lines.back();
  EXPECT_EQ(value_of(text, "asl_train_step", labels()), 4);
  EXPECT_EQ(value_of(text, "asl_train_epoch", labels()), 1);
  EXPECT_DOUBLE_EQ(value_of(text, "asl_train_loss", labels({{"loss", "final"}})),
                   last["final_loss"].get<double>());
  EXPECT_DOUBLE_EQ(value_of(text, "asl_train_loss", labels({{"loss", "cls"}})),
                   last["cls_loss"].get<double>());
  EXPECT_DOUBLE_EQ(value_of(text, "asl_train_learning_rate", labels()), last["lr"].get<double>());
  EXPECT_DOUBLE_EQ(value_of(text, "asl_train_grad_norm", labels()), last["grad_norm"].get<double>());
  EXPECT_EQ(value_of(text, "asl_train_positives", labels()), last["num_pos"].get<double>());
  EXPECT_DOUBLE_EQ(value_of(text, "asl_train_progress_ratio", labels()), 4.0 / 8.0);
  EXPECT_EQ(value_of(text, "asl_train_samples_total", labels()), 8);  // 4 steps x batch 2
  EXPECT_EQ(value_of(text, "asl_train_step_seconds_count", labels()), 4);
  EXPECT_EQ(value_of(text, "asl_train_forward_seconds_count", labels()), 4);
  EXPECT_EQ(value_of(text, "asl_train_allreduce_wait_seconds_sum", labels()), 0);  // one process
  EXPECT_EQ(value_of(text, "asl_train_nonfinite_steps_total", labels({{"action", "skipped"}})), 0);
  // One epoch's checkpoint (last.ckpt), with its size.
  EXPECT_EQ(value_of(text, "asl_checkpoint_writes_total", labels()), 1);
  EXPECT_EQ(value_of(text, "asl_checkpoint_bytes", labels()),
            static_cast<double>(fs::file_size(dir + "/last.ckpt")));
  EXPECT_GT(value_of(text, "asl_train_last_step_timestamp_seconds", labels()), 1.7e9);
}

}  // namespace
}  // namespace asl::train
