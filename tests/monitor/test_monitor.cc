// The metrics exporter over real HTTP on the loopback: what it serves, the port rules and
// the errors, and the values the record calls put into the series.
#include <gtest/gtest.h>

#include <cmath>
#include <map>
#include <string>

#include "common/metrics_scrape.h"
#include "core/error.h"
#include "monitor/exporter.h"
#include "monitor/process_stats.h"
#include "monitor/train_metrics.h"

namespace asl::monitor {
namespace {

using asl::testing::LabelMap;
using asl::testing::free_port;
using asl::testing::scrape;
using asl::testing::value_of;

// The labels every series of options_on() carries, plus `extra`.
LabelMap common(LabelMap extra = {}) {
  LabelMap l{{"job", "ego4d_asl"}, {"rank", "3"}, {"run", "unit"}};
  l.insert(extra.begin(), extra.end());
  return l;
}

ExporterOptions options_on(int port) {
  ExporterOptions o;
  o.port = port;
  o.run = "unit";
  o.rank = 3;
  return o;
}

TEST(Exporter, PortPerRankAddsTheLocalRank) {
  ExporterOptions o;
  o.port = 9400;
  o.local_rank = 2;
  o.local_size = 4;
  EXPECT_EQ(exporter_port(o), 9402);
  o.port_per_rank = false;
  o.local_size = 1;
  o.local_rank = 0;
  EXPECT_EQ(exporter_port(o), 9400);
}

TEST(Exporter, OnePortForSeveralRanksOfANodeIsRefused) {
  ExporterOptions o;
  o.port = 9400;
  o.port_per_rank = false;
  o.local_size = 2;
  try {
    exporter_port(o);
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("monitoring.port_per_rank"), std::string::npos) << e.what();
  }
  o.port_per_rank = true;
  o.port = 65535;
  o.local_rank = 1;
  EXPECT_THROW(exporter_port(o), Error);
}

TEST(Exporter, ATakenPortIsOneClearError) {
  const asl::testing::TakenPort taken;
  try {
    Exporter e(options_on(taken.port()));
    FAIL() << "served on a taken port";
  } catch (const Error& e) {
    const std::string m = e.what();
    EXPECT_NE(m.find("monitoring.port"), std::string::npos) << m;
    EXPECT_NE(m.find("127.0.0.1:" + std::to_string(taken.port())), std::string::npos) << m;
    EXPECT_NE(m.find("rank 3"), std::string::npos) << m;
  }
  EXPECT_EQ(Exporter::current(), nullptr);
}

TEST(Exporter, ServesProcessMemoryAndBuildInfoWithTheCommonLabels) {
  const int port = free_port();
  Exporter e(options_on(port));
  EXPECT_EQ(Exporter::current(), &e);
  e.set_build_info({{"version", "9.9"}, {"world_size", "4"}});
  const std::string text = scrape(port);
  const double rss = value_of(text, "asl_process_resident_memory_bytes", common());
  EXPECT_GT(rss, 1e5) << text;
  EXPECT_GE(value_of(text, "asl_process_memory_limit_bytes", common()), rss);
  EXPECT_NE(text.find("asl_build_info{"), std::string::npos) << text;
  EXPECT_NE(text.find("world_size=\"4\""), std::string::npos) << text;
  EXPECT_EQ(text.find("asl_gpu_memory"), std::string::npos);  // no reader, no GPU series
  e.set_gpu_memory_reader([](GpuMemory& m) {
    m.used_bytes = 5;
    m.total_bytes = 80;
    return true;
  });
  const std::string with_gpu = scrape(port);
  EXPECT_EQ(value_of(with_gpu, "asl_gpu_memory_used_bytes", common()), 5);
  EXPECT_EQ(value_of(with_gpu, "asl_gpu_memory_total_bytes", common()), 80);
}

TEST(TrainMetrics, NothingWithoutAnExporter) {
  ASSERT_EQ(Exporter::current(), nullptr);
  EXPECT_EQ(TrainMetrics::create(), nullptr);
  EXPECT_EQ(InferMetrics::create("val"), nullptr);
  record_validation({});  // a no-op, not a crash
}

TEST(TrainMetrics, StepsLossesHistogramsAndCheckpointsAsServed) {
  const int port = free_port();
  Exporter e(options_on(port));
  auto m = TrainMetrics::create();
  ASSERT_NE(m, nullptr);
  StepSample s;
  s.lr = 1e-4;
  s.cls_loss = 0.5;
  s.reg_loss = 0.25;
  s.al_loss = 0.125;
  s.final_loss = 0.875;
  s.positives = 17;
  s.samples = 2;
  s.data_wait_s = 0.002;
  s.unix_time_s = 1.7e9;
  for (int i = 0; i < 3; ++i) {
    s.steps_done = i + 1;
    s.step_s = 0.2 * (i + 1);  // 0.2, 0.4, 0.6
    s.progress = (i + 1) / 10.0;
    s.eta_s = 9.0 - i;
    m->record_step(s);
  }
  m->record_epoch(1);
  m->record_nonfinite(false);
  m->record_nonfinite(false);
  m->record_nonfinite(true);
  m->record_checkpoint(0.3, 12345);
  const std::string t = scrape(port);
  EXPECT_EQ(value_of(t, "asl_train_step", common()), 3);
  EXPECT_EQ(value_of(t, "asl_train_epoch", common()), 1);
  EXPECT_DOUBLE_EQ(value_of(t, "asl_train_progress_ratio", common()), 0.3);
  EXPECT_EQ(value_of(t, "asl_train_eta_seconds", common()), 7);
  EXPECT_DOUBLE_EQ(value_of(t, "asl_train_learning_rate", common()), 1e-4);
  EXPECT_EQ(value_of(t, "asl_train_loss", common({{"loss", "cls"}})), 0.5);
  EXPECT_EQ(value_of(t, "asl_train_loss", common({{"loss", "reg"}})), 0.25);
  EXPECT_EQ(value_of(t, "asl_train_loss", common({{"loss", "al"}})), 0.125);
  EXPECT_EQ(value_of(t, "asl_train_loss", common({{"loss", "final"}})), 0.875);
  EXPECT_EQ(value_of(t, "asl_train_positives", common()), 17);
  EXPECT_DOUBLE_EQ(value_of(t, "asl_train_samples_per_second", common()), 2 / 0.6);
  EXPECT_EQ(value_of(t, "asl_train_samples_total", common()), 6);
  EXPECT_EQ(value_of(t, "asl_train_steps_total", common()), 3);
  EXPECT_EQ(value_of(t, "asl_train_last_step_timestamp_seconds", common()), 1.7e9);
  // Histogram: 3 steps, sum 1.2 s; cumulative buckets around the values.
  EXPECT_EQ(value_of(t, "asl_train_step_seconds_count", common()), 3);
  EXPECT_NEAR(value_of(t, "asl_train_step_seconds_sum", common()), 1.2, 1e-12);
  EXPECT_EQ(value_of(t, "asl_train_step_seconds_bucket", common({{"le", "0.1"}})), 0);
  EXPECT_EQ(value_of(t, "asl_train_step_seconds_bucket", common({{"le", "0.25"}})), 1);
  EXPECT_EQ(value_of(t, "asl_train_step_seconds_bucket", common({{"le", "0.5"}})), 2);
  EXPECT_EQ(value_of(t, "asl_train_step_seconds_bucket", common({{"le", "1"}})), 3);
  EXPECT_EQ(value_of(t, "asl_train_step_seconds_bucket", common({{"le", "+Inf"}})), 3);
  EXPECT_EQ(value_of(t, "asl_train_data_wait_seconds_count", common()), 3);
  EXPECT_EQ(value_of(t, "asl_train_nonfinite_steps_total", common({{"action", "skipped"}})), 2);
  EXPECT_EQ(value_of(t, "asl_train_nonfinite_steps_total", common({{"action", "stopped"}})), 1);
  EXPECT_EQ(value_of(t, "asl_checkpoint_bytes", common()), 12345);
  EXPECT_EQ(value_of(t, "asl_checkpoint_writes_total", common()), 1);
  EXPECT_EQ(value_of(t, "asl_checkpoint_write_seconds_count", common()), 1);
}

TEST(TrainMetrics, ValidationAndInferenceProgress) {
  const int port = free_port();
  Exporter e(options_on(port));
  ValidationSample v;
  v.epoch = 4;
  v.split = "val";
  v.map = {{"0.1", 0.6}, {"0.5", 0.2}};
  v.average_map = 0.4;
  v.recall = {{{1, "0.5"}, 0.33}, {{5, "0.7"}, 0.5}};
  record_validation(v);
  auto inf = InferMetrics::create("val");
  ASSERT_NE(inf, nullptr);
  inf->start(10);
  inf->advance(4, 2.0);  // 2 clips/s, 6 left -> 3 s
  const std::string t = scrape(port);
  EXPECT_EQ(value_of(t, "asl_validation_epoch", common({{"split", "val"}})), 4);
  EXPECT_EQ(value_of(t, "asl_validation_map_ratio", common({{"split", "val"}, {"tiou", "0.1"}})), 0.6);
  EXPECT_EQ(value_of(t, "asl_validation_map_ratio", common({{"split", "val"}, {"tiou", "0.5"}})), 0.2);
  EXPECT_EQ(value_of(t, "asl_validation_average_map_ratio", common({{"split", "val"}})), 0.4);
  EXPECT_EQ(value_of(t, "asl_validation_recall_ratio", common({{"k", "1"}, {"split", "val"}, {"tiou", "0.5"}})), 0.33);
  EXPECT_EQ(value_of(t, "asl_validation_recall_ratio", common({{"k", "5"}, {"split", "val"}, {"tiou", "0.7"}})), 0.5);
  EXPECT_EQ(value_of(t, "asl_infer_clips_total", common({{"split", "val"}})), 4);
  EXPECT_EQ(value_of(t, "asl_infer_clips_planned", common({{"split", "val"}})), 10);
  EXPECT_DOUBLE_EQ(value_of(t, "asl_infer_progress_ratio", common({{"split", "val"}})), 0.4);
  EXPECT_EQ(value_of(t, "asl_infer_clips_per_second", common({{"split", "val"}})), 2);
  EXPECT_EQ(value_of(t, "asl_infer_eta_seconds", common({{"split", "val"}})), 3);
}

TEST(ProcessStats, ResidentMemoryGrowsWithTouchedPages) {
  const int64_t before = resident_memory_bytes();
  std::string block(64 << 20, 'x');  // 64 MiB, every page written
  const int64_t after = resident_memory_bytes();
  EXPECT_GT(after - before, 48 << 20) << before << " -> " << after;
  EXPECT_GE(memory_limit_bytes(), after);
  EXPECT_EQ(block[12345], 'x');
}

}  // namespace
}  // namespace asl::monitor
