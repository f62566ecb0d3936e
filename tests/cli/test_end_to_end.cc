// The whole way on a tiny setting, as the demo runs it: synth -> train -> eval (predictions
// and metrics files) -> infer (submission) -> score of the written predictions.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <nlohmann/json.hpp>
#include <sstream>

#include "common/test_util.h"
#include "run.h"

namespace asl::testing {
namespace {

namespace fs = std::filesystem;

const std::string kTemplate = std::string(ASL_SOURCE_DIR) + "/tests/data/ego4d/clip_annotations.json";

nlohmann::json read_json(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return nlohmann::json::parse(s.str());
}

TEST(EndToEnd, SynthTrainEvalInferScore) {
  const std::string dir = ::testing::TempDir() + "asl_e2e_" + std::to_string(getpid());
  fs::remove_all(dir);
  const std::string data = dir + "/data";
  RunResult r = run_asl({"synth", "--out", data, "--template", kTemplate, "--clips", "16",
                         "--classes", "4", "--features", "egovlp:16,internvideo:8", "--write",
                         "h5", "--seed", "1"});
  ASSERT_EQ(r.code, 0) << r.err;
  std::vector<std::string> sets = tiny_demo_overrides(data);
  for (const char* o : {"opt.epochs=1", "opt.warmup_epochs=1", "loader.num_workers=1"}) {
    sets.insert(sets.end(), {"--set", o});
  }
  const std::string config = std::string(ASL_SOURCE_DIR) + "/configs/demo.yaml";
  std::vector<std::string> train = {"train", config, "--output", dir + "/train"};
  train.insert(train.end(), sets.begin(), sets.end());
  r = run_asl(train);
  ASSERT_EQ(r.code, 0) << r.err;
  ASSERT_TRUE(fs::exists(dir + "/train/last.ckpt"));
  ASSERT_TRUE(fs::exists(dir + "/train/steps.jsonl"));

  std::vector<std::string> eval = {"eval", config, dir + "/train/last.ckpt", "--split", "val",
                                   "--out", dir + "/pred.json", "--json", dir + "/metrics.json"};
  eval.insert(eval.end(), sets.begin(), sets.end());
  r = run_asl(eval);
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_HAS(r.out, "mAP (%)");
  const nlohmann::json metrics = read_json(dir + "/metrics.json");
  ASSERT_TRUE(metrics.contains("average_mAP"));
  EXPECT_GE(metrics["average_mAP"].get<double>(), 0.0);
  EXPECT_LE(metrics["average_mAP"].get<double>(), 1.0);
  EXPECT_TRUE(metrics["recall"].contains("R5@0.7"));

  // Validation during training ran on the same EMA weights: its last line is eval's result.
  std::ifstream vlog(dir + "/train/validation.jsonl");
  std::string line, last;
  int validated = 0;
  while (std::getline(vlog, line)) {
    if (line.empty()) continue;
    last = line;
    ++validated;
  }
  ASSERT_GE(validated, 1);
  const nlohmann::json v = nlohmann::json::parse(last);
  EXPECT_EQ(v["epoch"], 2);
  EXPECT_EQ(v["average_mAP"], metrics["average_mAP"]);
  EXPECT_EQ(v["recall"], metrics["recall"]);
  EXPECT_TRUE(fs::exists(dir + "/train/best.ckpt"));

  // Every clip's predictions by descending score (the official Recall@kx reads file order).
  const nlohmann::json pred = read_json(dir + "/pred.json");
  EXPECT_EQ(pred["challenge"], "ego4d_moment_queries");
  ASSERT_FALSE(pred["detect_results"].empty());
  for (const auto& [clip, list] : pred["detect_results"].items()) {
    for (size_t i = 1; i < list.size(); ++i) {
      EXPECT_GE(list[i - 1]["score"].get<double>(), list[i]["score"].get<double>()) << clip;
    }
  }

  // Scoring the written file gives the numbers eval printed.
  r = run_asl({"score", "--gt", data + "/clip_annotations.json", "--pred", dir + "/pred.json",
               "--split", "val", "--json", dir + "/metrics2.json"});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(read_json(dir + "/metrics2.json"), metrics);

  std::vector<std::string> infer = {"infer", config, dir + "/train/last.ckpt", "--split", "test",
                                    "--out", dir + "/submission.json"};
  infer.insert(infer.end(), sets.begin(), sets.end());
  r = run_asl(infer);
  ASSERT_EQ(r.code, 0) << r.err;
  const nlohmann::json sub = read_json(dir + "/submission.json");
  EXPECT_FALSE(sub["retrieve_results"].empty());

  // inspect tells what the checkpoint and the prediction file hold.
  r = run_asl({"inspect", dir + "/train/last.ckpt"});
  ASSERT_EQ(r.code, 0) << r.err;
  std::ifstream steps(dir + "/train/steps.jsonl");
  int step_lines = 0;
  while (std::getline(steps, line)) step_lines += !line.empty();
  EXPECT_HAS(r.out, "training checkpoint (asl train)");
  EXPECT_HAS(r.out, "epoch 2 completed, global step " + std::to_string(step_lines) + "\n");
  EXPECT_HAS(r.out, "EMA weights: yes");
  EXPECT_HAS(r.out, "dataset.num_classes=4;");
  r = run_asl({"inspect", dir + "/pred.json"});
  ASSERT_EQ(r.code, 0) << r.err;
  size_t predictions = 0;
  for (const auto& [clip, list] : pred["detect_results"].items()) predictions += list.size();
  EXPECT_HAS(r.out, "predictions: " + std::to_string(pred["detect_results"].size()) + " clips (0 without predictions), " +
                        std::to_string(predictions) + " predictions");
  EXPECT_HAS(r.out, "retrieval lists: the same as detection");

  // The run as an HTML page.
  r = run_asl({"report", dir + "/train", "--out", dir + "/report.html", "--metrics", dir + "/metrics.json"});
  ASSERT_EQ(r.code, 0) << r.err;
  std::ifstream page_in(dir + "/report.html");
  const std::string page((std::istreambuf_iterator<char>(page_in)), std::istreambuf_iterator<char>());
  EXPECT_EQ(page.rfind("<!DOCTYPE html>", 0), 0u);
  EXPECT_HAS(page, "<td id=\"steps\">" + std::to_string(step_lines) + "</td>");
  fs::remove_all(dir);
}

}  // namespace
}  // namespace asl::testing
