// The training loop's metrics and its NaN/Inf policy: a step with a non-finite loss leaves
// weights, optimizer state and EMA untouched (skip) or ends the run (stop); the live
// endpoint shows what steps.jsonl holds.
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
#include "train/trainer.h"

namespace asl::train {
namespace {

namespace fs = std::filesystem;
using asl::testing::LabelMap;
using asl::testing::WaveSource;

config::Config tiny_config(const std::string& on_nonfinite) {
  return config::load_config(std::string(ASL_SOURCE_DIR) + "/tests/model/golden/config.yaml",
                             {"loader.batch_size=2", "loader.num_workers=0", "opt.epochs=1",
                              "opt.warmup_epochs=1", "init_rand_seed=7", "dist.device=cpu",
                              "train_cfg.on_nonfinite=" + on_nonfinite});
}

std::shared_ptr<const data::ClipAnnotations> clips() {
  return data::testing::make_clips(12, WaveSource::kSteps / 1.875, 1.875);  // 4 batches/epoch
}

std::string fresh_dir(const std::string& name) {
  const std::string dir = ::testing::TempDir() + "/asl_nonfinite_" + name;
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

TrainerOptions options(const std::string& dir) {
  TrainerOptions o;
  o.output_dir = dir;
  o.stop_after_epochs = 1;
  return o;
}

// Puts a NaN into the first parameter: every forward pass then gives a NaN loss.
void poison(Trainer& t) {
  torch::NoGradGuard no_grad;
  t.step().model()->parameters().front().view(-1)[0] = std::numeric_limits<float>::quiet_NaN();
}

TEST(NonFinite, SkipLeavesWeightsOptimizerAndEmaAsTheyWere) {
  const std::string dir = fresh_dir("skip");
  Trainer t(tiny_config("skip"), clips(), std::make_shared<WaveSource>(), options(dir));
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
  const std::string dir = fresh_dir("stop");
  Trainer t(tiny_config("stop"), clips(), std::make_shared<WaveSource>(), options(dir));
  poison(t);
  const std::string message = asl::testing::error_of([&] { t.run(); });
  EXPECT_NE(message.find("train_cfg.on_nonfinite"), std::string::npos) << message;
  EXPECT_NE(message.find("step 0"), std::string::npos) << message;
  EXPECT_EQ(step_lines(dir).size(), 1u);
  EXPECT_TRUE(t.step().optimizer().state().empty());
}

TEST(TrainMetrics, TheEndpointShowsTheLoggedStep) {
  monitor::ExporterOptions eo;
  eo.port = asl::testing::free_port();
  eo.run = "trainer";
  monitor::Exporter exporter(eo);
  const std::string dir = fresh_dir("metrics");
  Trainer t(tiny_config("skip"), clips(), std::make_shared<WaveSource>(), options(dir));
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
