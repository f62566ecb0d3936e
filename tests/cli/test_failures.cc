// What `asl train`, `asl eval` and `asl score` do when things go wrong (README.md exit codes,
// docs/training.md): a run killed while writing a checkpoint resumes from the previous one and
// then trains exactly as an uninterrupted run; a missing checkpoint, a checkpoint of another
// architecture, an empty split and a malformed prediction file each fail with one clear line
// and leave no output behind.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "common/metrics_scrape.h"
#include "common/test_util.h"
#include "run.h"

namespace asl::testing {
namespace {

namespace fs = std::filesystem;

const std::string kTemplate = std::string(ASL_SOURCE_DIR) + "/tests/data/ego4d/clip_annotations.json";
const std::string kConfig = std::string(ASL_SOURCE_DIR) + "/configs/demo.yaml";

std::vector<nlohmann::json> json_lines(const std::string& path) {
  std::vector<nlohmann::json> out;
  std::ifstream in(path);
  for (std::string line; std::getline(in, line);) {
    if (!line.empty()) out.push_back(nlohmann::json::parse(line));
  }
  return out;
}

std::vector<std::string> with(std::vector<std::string> args, const std::vector<std::string>& more) {
  args.insert(args.end(), more.begin(), more.end());
  return args;
}

// One tiny synthetic dataset for every test here.
class Failures : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = ::testing::TempDir() + "asl_failures_" + std::to_string(getpid());
    fs::remove_all(dir_);
    data_ = dir_ + "/data";
    const std::vector<std::string> synth = {"synth", "--out", data_, "--clips", "16",
                                            "--classes", "4", "--features", "egovlp:16,internvideo:8",
                                            "--write", "h5", "--seed", "3"};
    const RunResult r = run_asl(with(synth, {"--template", kTemplate}));
    ASSERT_EQ(r.code, 0) << r.err;
  }
  static void TearDownTestSuite() { fs::remove_all(dir_); }

  // A tiny network: 3 epochs (1 warm-up) of a few steps, no validation.
  static std::vector<std::string> sets() {
    return with(tiny_demo_overrides(data_), {"--set", "opt.epochs=2", "--set", "opt.warmup_epochs=1",
                                             "--set", "loader.num_workers=0"});
  }
  static RunResult train(const std::string& out, const std::vector<std::string>& extra = {}) {
    return run_asl(with(with({"train", kConfig, "--output", out, "--no-validation"}, sets()), extra));
  }

  static std::string dir_, data_;
};

std::string Failures::dir_, Failures::data_;

TEST_F(Failures, RunKilledWhileWritingACheckpointResumesFromThePreviousOne) {
  const std::string straight = dir_ + "/straight", killed = dir_ + "/killed";
  ASSERT_EQ(train(straight).code, 0);

  ::setenv("ASL_FAILPOINT", "checkpoint_write@2", 1);
  RunResult r = train(killed);
  ::unsetenv("ASL_FAILPOINT");
  EXPECT_NE(r.code, 0) << "the failpoint should have killed the run";
  // The complete checkpoint of epoch 1 is intact; epoch 2's was never committed.
  EXPECT_TRUE(fs::exists(killed + "/epoch_0001.ckpt"));
  EXPECT_FALSE(fs::exists(killed + "/epoch_0002.ckpt"));
  bool torn = false;
  for (const auto& e : fs::directory_iterator(killed)) {
    torn |= e.path().filename().string().rfind(".last.ckpt.tmp", 0) == 0;
  }
  EXPECT_TRUE(torn) << "the failpoint leaves a half-written temporary file, as a crash does";

  r = train(killed, {"--resume", "auto"});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_HAS(r.err + r.out, "resumed from " + killed + "/last.ckpt (epoch 1");
  for (const auto& e : fs::directory_iterator(killed)) {
    EXPECT_EQ(e.path().filename().string().find(".tmp"), std::string::npos)
        << "stale temporary file left: " << e.path();
  }

  // The resumed run trained exactly as the uninterrupted one.
  const auto a = json_lines(straight + "/steps.jsonl"), b = json_lines(killed + "/steps.jsonl");
  ASSERT_FALSE(a.empty());
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i) {
    for (const char* key : {"step", "epoch", "lr", "final_loss", "grad_norm", "loss_normalizer"}) {
      EXPECT_EQ(a[i][key], b[i][key]) << "step " << i << " " << key;
    }
  }
}

TEST_F(Failures, EvalNamesAMissingCheckpoint) {
  const std::string out = dir_ + "/missing.json";
  const RunResult r = run_asl(with({"eval", kConfig, dir_ + "/no-such.ckpt", "--json", out}, sets()));
  EXPECT_NE(r.code, 0);
  EXPECT_HAS(r.err, "no-such.ckpt");
  EXPECT_FALSE(fs::exists(out));
}

TEST_F(Failures, EvalRefusesACheckpointOfAnotherArchitecture) {
  const std::string run = dir_ + "/arch";
  ASSERT_EQ(train(run).code, 0);
  const std::string out = dir_ + "/arch.json";
  // The same checkpoint read with a wider head.
  const RunResult r = run_asl(with(with({"eval", kConfig, run + "/last.ckpt", "--json", out}, sets()),
                                   {"--set", "model.head_dim=48"}));
  EXPECT_EQ(r.code, 1);
  EXPECT_HAS(r.err, "last.ckpt");
  EXPECT_HAS(r.err, "cls_head");  // the first mis-shaped key is named
  EXPECT_EQ(count_lines(r.err), 1) << r.err;
  EXPECT_FALSE(fs::exists(out));
}

TEST_F(Failures, EmptySplitsFailClearly) {
  const std::string run = dir_ + "/empty";
  RunResult r = train(run, {"--set", "train_split=[no_such_split]"});
  EXPECT_EQ(r.code, 1);
  EXPECT_HAS(r.err, "no_such_split");
  EXPECT_FALSE(fs::exists(run + "/last.ckpt"));

  ASSERT_EQ(train(dir_ + "/for_split").code, 0);
  const std::string out = dir_ + "/empty.json";
  r = run_asl(with({"eval", kConfig, dir_ + "/for_split/last.ckpt", "--split", "no_such_split",
                    "--json", out},
                   sets()));
  EXPECT_EQ(r.code, 1);
  EXPECT_HAS(r.err, "no_such_split");
  EXPECT_EQ(count_lines(r.err), 1) << r.err;
  EXPECT_FALSE(fs::exists(out));
}

// An annotation file changed under a packed store (a clip the store lacks): one error at
// start-up naming the store, the count and the clip, before any training.
TEST_F(Failures, AClipMissingFromTheStoreIsNamedAtStartUp) {
  std::stringstream text;
  text << std::ifstream(data_ + "/clip_annotations.json").rdbuf();
  nlohmann::json clips = nlohmann::json::parse(text.str());
  nlohmann::json& db = clips.contains("database") ? clips["database"] : clips;
  nlohmann::json extra;
  for (auto it = db.begin(); it != db.end(); ++it) {
    if (it.value().value("subset", "") == "train") {
      extra = it.value();
      break;
    }
  }
  ASSERT_FALSE(extra.is_null());
  if (extra.contains("clip_id")) extra["clip_id"] = "not-packed-clip";
  db["not-packed-clip"] = extra;
  const std::string changed = dir_ + "/changed_annotations.json";
  std::ofstream(changed) << clips.dump();
  const std::string run = dir_ + "/missing_clip";
  const RunResult r = train(run, {"--set", "dataset.json_file=" + changed});
  EXPECT_EQ(r.code, 1);
  EXPECT_HAS(r.err, "features.h5");
  EXPECT_HAS(r.err, "are not in it (not-packed-clip)");
  EXPECT_HAS(r.err, "asl pack");
  EXPECT_EQ(count_lines(r.err), 1) << r.err;
  EXPECT_FALSE(fs::exists(run + "/last.ckpt"));
}

std::string last_line(const std::string& text) {
  std::istringstream in(text);
  std::string line, last;
  while (std::getline(in, line)) {
    if (!line.empty()) last = line;
  }
  return last;
}

// Files in the folder that are not plain results: AtomicFile temporaries left behind.
std::vector<std::string> temporaries(const std::string& dir) {
  std::vector<std::string> out;
  for (const auto& e : fs::directory_iterator(dir)) {
    const std::string name = e.path().filename().string();
    if (name.find(".tmp.") != std::string::npos) out.push_back(name);
  }
  return out;
}

// A SIGTERM (Slurm's preemption notice) during validation: the validation finishes, then the
// run stops (exit 143) with the epoch's checkpoint and score kept, and --resume auto trains
// on exactly as an uninterrupted run. In the last epoch the run stops the same way, done.
TEST_F(Failures, SigtermDuringValidationStopsAfterItKeepingTheEpoch) {
  const auto train_validated = [&](const std::string& out, const std::vector<std::string>& extra) {
    return run_asl(with(with({"train", kConfig, "--output", out}, sets()),
                        with({"--set", "checkpoint.eval_start_epoch=1"}, extra)));
  };
  const std::string straight = dir_ + "/val_straight", stopped = dir_ + "/val_stopped";
  ASSERT_EQ(train_validated(straight, {}).code, 0);

  ::setenv("ASL_FAILPOINT", "sigterm_in_validation@1", 1);
  RunResult r = train_validated(stopped, {});
  ::unsetenv("ASL_FAILPOINT");
  EXPECT_EQ(r.code, 143) << r.err;
  EXPECT_HAS(r.err, "training stopped by a signal during the validation of epoch 1");
  EXPECT_HAS(r.err, "--resume auto");
  EXPECT_EQ(json_lines(stopped + "/validation.jsonl").size(), 1u);  // epoch 1 was scored
  EXPECT_EQ(json_lines(stopped + "/steps.jsonl").size(), json_lines(straight + "/steps.jsonl").size() / 3);
  EXPECT_TRUE(temporaries(stopped).empty());

  r = train_validated(stopped, {"--resume", "auto"});
  ASSERT_EQ(r.code, 0) << r.err;
  const auto a = json_lines(straight + "/steps.jsonl"), b = json_lines(stopped + "/steps.jsonl");
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i) {
    for (const char* key : {"step", "lr", "final_loss", "grad_norm"}) {
      EXPECT_EQ(a[i][key], b[i][key]) << "step " << i << " " << key;
    }
  }
  EXPECT_EQ(json_lines(stopped + "/validation.jsonl").size(), 3u);
  // Validating draws nothing from training's random stream: without it, the same steps.
  const std::string unvalidated = dir_ + "/val_none";
  ASSERT_EQ(train(unvalidated).code, 0);
  const auto c = json_lines(unvalidated + "/steps.jsonl");
  ASSERT_EQ(a.size(), c.size());
  for (size_t i = 0; i < a.size(); ++i) EXPECT_EQ(a[i]["final_loss"], c[i]["final_loss"]) << "step " << i;

  // The last epoch: nothing is left to train, the run still ends as stopped.
  const std::string last = dir_ + "/val_last";
  ::setenv("ASL_FAILPOINT", "sigterm_in_checkpoint@3", 1);
  r = train(last);
  ::unsetenv("ASL_FAILPOINT");
  EXPECT_EQ(r.code, 143) << r.err;
  EXPECT_HAS(r.err, "during the checkpoint write of epoch 3");
  EXPECT_HAS(r.err, "training is complete");
  EXPECT_TRUE(fs::exists(last + "/epoch_0003.ckpt"));
}

// A disk that fills while predictions are written: one error naming the file, the earlier
// file of that name untouched, no temporary left.
TEST_F(Failures, ADiskFullWhileWritingPredictionsKeepsTheEarlierFile) {
  const std::string run = dir_ + "/for_predictions";
  ASSERT_EQ(train(run).code, 0);
  const std::string dir = dir_ + "/predictions_out", pred = dir + "/predictions.json";
  fs::create_directories(dir);
  std::ofstream(pred) << "earlier predictions\n";
  ::setenv("ASL_FAILPOINT", "no_space@predictions.json", 1);
  const RunResult r = run_asl(with({"eval", kConfig, run + "/last.ckpt", "--out", pred}, sets()));
  ::unsetenv("ASL_FAILPOINT");
  EXPECT_EQ(r.code, 1);
  EXPECT_HAS(last_line(r.err), pred + ": write failed: No space left on device");
  std::stringstream kept;
  kept << std::ifstream(pred).rdbuf();
  EXPECT_EQ(kept.str(), "earlier predictions\n");
  EXPECT_TRUE(temporaries(dir).empty());
}

// A disk that fills while the step log grows: the run stops at that step with one error, and
// the log keeps only whole lines (the torn record is cut off again).
TEST_F(Failures, ADiskFullWhileAppendingTheStepLogStopsTheRunWithWholeLines) {
  const std::string run = dir_ + "/steps_full";
  ::setenv("ASL_FAILPOINT", "no_space@steps.jsonl", 1);
  const RunResult r = train(run);
  ::unsetenv("ASL_FAILPOINT");
  EXPECT_EQ(r.code, 1);
  const std::string error = last_line(r.err);  // after the run's progress lines
  EXPECT_HAS(error, run + "/steps.jsonl: cannot append: No space left on device; step 0 was not logged");
  EXPECT_HAS(error, "--resume auto");
  std::stringstream log;
  log << std::ifstream(run + "/steps.jsonl").rdbuf();
  EXPECT_EQ(log.str(), "");  // half a line was written, then cut off
  EXPECT_FALSE(fs::exists(run + "/last.ckpt"));
}

TEST_F(Failures, ScoreNamesTheFaultOfAMalformedPredictionFile) {
  const std::string pred = dir_ + "/bad_pred.json", out = dir_ + "/bad_metrics.json";
  std::ofstream(pred) << R"({"version": "1.0", "detect_results": {"clip-a": [{"label": "x", "score": 0.5}]}, "retrieve_results": {}})";
  const RunResult r = run_asl({"score", "--gt", data_ + "/clip_annotations.json", "--pred", pred,
                               "--split", "val", "--json", out});
  EXPECT_EQ(r.code, 1);
  EXPECT_HAS(r.err, "bad_pred.json");
  EXPECT_HAS(r.err, "clip-a");
  EXPECT_HAS(r.err, "segment");
  EXPECT_FALSE(fs::exists(out));
}

TEST_F(Failures, ATakenMetricsPortStopsTrainingBeforeAnyWork) {
  // Something else listens on the port: the run must fail at once, naming port and key.
  const TakenPort taken;
  const std::string port = std::to_string(taken.port());
  const std::string run = dir_ + "/port_taken";
  const RunResult r = train(run, {"--set", "monitoring.port=" + port});
  EXPECT_EQ(r.code, 1);
  EXPECT_HAS(r.err, "monitoring.port");
  EXPECT_HAS(r.err, "127.0.0.1:" + port);
  EXPECT_EQ(count_lines(r.err), 1) << r.err;
  EXPECT_FALSE(fs::exists(run)) << "the output folder was created before the port check";
}

}  // namespace
}  // namespace asl::testing
