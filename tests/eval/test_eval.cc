// asl score against the official Ego4D MQ evaluator's numbers (fixtures made by
// make_fixtures.py), hand-worked cases for each official quirk, and bad inputs.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <fstream>
#include <limits>
#include <nlohmann/json.hpp>

#include "cli/run.h"
#include "common/test_util.h"
#include "core/fs.h"
#include "data/annotations.h"
#include "eval/metrics.h"
#include "eval/numpy_sort.h"
#include "eval/predictions.h"

namespace asl::eval {
namespace {

using asl::testing::error_of;
using Json = nlohmann::json;

const std::string kData = std::string(ASL_SOURCE_DIR) + "/tests/eval/data/";

data::Clip clip(const std::string& id, std::vector<std::tuple<double, double, std::string>> gt) {
  data::Clip c;
  c.clip_id = id;
  c.subset = "val";
  c.duration = 100;
  for (auto& [s, e, l] : gt) c.annotations.push_back({s, e, l, 0});
  return c;
}

ClipPredictions preds(const std::string& id,
                      std::vector<std::tuple<std::string, double, double, double>> list) {
  ClipPredictions c{id, {}};
  for (auto& [l, score, s, e] : list) c.predictions.push_back({l, score, s, e});
  return c;
}

DetectionResult detect(const std::vector<data::Clip>& gt, const PredictionList& p) {
  std::vector<const data::Clip*> clips;
  for (const auto& c : gt) clips.push_back(&c);
  return evaluate_detection(clips, p, kDetectionTious, 2);
}

RetrievalResult retrieve(const std::vector<data::Clip>& gt, const PredictionList& p) {
  std::vector<const data::Clip*> clips;
  for (const auto& c : gt) clips.push_back(&c);
  return evaluate_retrieval(clips, p, 2);
}

TEST(Official, MatchesTheOfficialEvaluatorOnTheFixture) {
  const auto gt = data::read_clip_annotations(kData + "gt.json");
  const auto pred = read_predictions(kData + "pred.json");
  const Json expected = Json::parse(read_file(kData + "expected.json"));
  for (int threads : {1, 3}) {
    const Metrics m = score(gt, pred, "val", threads);
    const Json got = Json::parse(metrics_json(m));
    for (const auto& [key, value] : expected["mAP"].items()) {
      EXPECT_NEAR(got["mAP"][key].get<double>(), value.get<double>(), 1e-12) << key;
    }
    EXPECT_NEAR(got["average_mAP"].get<double>(), expected["average_mAP"].get<double>(), 1e-12);
    ASSERT_EQ(got["recall"].size(), 15u);
    for (const auto& [key, value] : expected["recall"].items()) {
      EXPECT_NEAR(got["recall"][key].get<double>(), value.get<double>(), 1e-12) << key;
    }
    ASSERT_EQ(m.detection.classes.size(), expected["ap"].size());
    for (size_t k = 0; k < m.detection.classes.size(); ++k) {
      const auto& want = expected["ap"][m.detection.classes[k]];
      for (size_t t = 0; t < 5; ++t) {
        EXPECT_NEAR(m.detection.ap[t][k], want[t].get<double>(), 1e-12) << m.detection.classes[k];
      }
    }
    EXPECT_GT(m.detection.ignored_predictions, 0);
    EXPECT_EQ(m.retrieval.clips_without_predictions, 3);
  }
}

TEST(NumpyArgsort, MatchesNumpyOnTies) {
  const Json cases = Json::parse(read_file(kData + "argsort.json"));
  for (const auto& c : cases) {
    std::vector<double> v;
    for (const auto& x : c["values"]) {
      v.push_back(x.is_null() ? std::numeric_limits<double>::quiet_NaN() : x.get<double>());
    }
    const auto order = numpy_argsort(v);
    EXPECT_EQ(Json(order), c["argsort"]) << "n=" << v.size();
  }
}

TEST(Detection, HandWorkedInterpolatedAP) {
  // Ranked TP, FP, TP over 2 entries: precision 1, 1/2, 2/3 at recall 1/2, 1/2, 1.
  // Interpolated: 1/2 * 1 + 1/2 * 2/3.
  const auto r = detect({clip("a", {{0, 10, "x"}, {20, 30, "x"}})},
                        {preds("a", {{"x", .9, 0, 10}, {"x", .8, 40, 50}, {"x", .7, 20, 30}})});
  for (double ap : r.mAP) EXPECT_NEAR(ap, 0.5 + 1.0 / 3, 1e-12);
  EXPECT_NEAR(interpolated_ap({1, .5, 2.0 / 3}, {.5, .5, 1}), 0.5 + 1.0 / 3, 1e-15);
  EXPECT_DOUBLE_EQ(interpolated_ap({}, {}), 0.0);
}

TEST(Detection, DuplicateGroundTruthCountsTwice) {
  const auto gt = clip("a", {{0, 10, "x"}, {0, 10, "x"}});
  EXPECT_NEAR(detect({gt}, {preds("a", {{"x", .9, 0, 10}})}).average_mAP, 0.5, 1e-12);
  EXPECT_NEAR(detect({gt}, {preds("a", {{"x", .9, 0, 10}, {"x", .8, 0, 10}})}).average_mAP, 1.0,
              1e-12);
}

TEST(Detection, ThresholdIsInclusiveAndClassesComeFromGroundTruth) {
  // tIoU exactly 0.5 is a match at 0.5 (the official test is `tiou < thr` for a miss).
  const auto r = detect({clip("a", {{0, 10, "x"}}), clip("b", {{0, 10, "z"}})},
                        {preds("a", {{"x", .9, 0, 5}, {"absent", .9, 0, 10}})});
  ASSERT_EQ(r.classes, (std::vector<std::string>{"x", "z"}));
  EXPECT_NEAR(r.ap[4][0], 1.0, 1e-12);
  EXPECT_NEAR(r.ap[4][1], 0.0, 1e-12);  // no prediction of z: AP 0
  EXPECT_NEAR(r.mAP[4], 0.5, 1e-12);
  EXPECT_EQ(r.ignored_predictions, 1);
}

TEST(Detection, MetricsJsonAveragesEachClassOverTheTious) {
  // x: tIoU 0.5, a match at every threshold 0.1..0.5 (inclusive): AP 1 each, mean 1.
  // z: tIoU 0.3, a match at 0.1, 0.2, 0.3 and a miss at 0.4, 0.5: mean (1+1+1+0+0)/5 = 0.6.
  const std::vector<data::Clip> gt{clip("a", {{0, 10, "x"}}), clip("b", {{0, 10, "z"}})};
  const PredictionList p{preds("a", {{"x", .9, 0, 5}}), preds("b", {{"z", .9, 0, 3}})};
  const Json j = Json::parse(metrics_json({detect(gt, p), retrieve(gt, p)}));
  ASSERT_TRUE(j.contains("AP_per_class"));
  ASSERT_EQ(j["AP_per_class"].size(), 2u);
  EXPECT_NEAR(j["AP_per_class"]["x"].get<double>(), 1.0, 1e-12);
  EXPECT_NEAR(j["AP_per_class"]["z"].get<double>(), 0.6, 1e-12);
  // The per-class means average to average_mAP.
  EXPECT_NEAR(j["average_mAP"].get<double>(), 0.8, 1e-12);
}

TEST(Detection, UnknownClipIsAFalsePositive) {
  // Ranked FP (clip not in the ground truth) then TP: precision 0, 1/2; AP 1/2.
  const auto r = detect({clip("a", {{0, 10, "x"}})},
                        {preds("zzz", {{"x", .9, 0, 10}}), preds("a", {{"x", .5, 0, 10}})});
  EXPECT_NEAR(r.average_mAP, 0.5, 1e-12);
}

TEST(Detection, TiesRankLaterEntriesFirst) {
  // Equal scores: argsort()[::-1] puts the later entry (the FP) first: AP 1/2, not 1.
  const auto r = detect({clip("a", {{0, 10, "x"}})},
                        {preds("a", {{"x", .5, 0, 10}, {"x", .5, 40, 50}})});
  EXPECT_NEAR(r.average_mAP, 0.5, 1e-12);
}

TEST(Detection, ZeroLengthOnZeroLengthMatches) {
  // 0/0 = NaN, and NaN < thr is false: the official code counts a true positive.
  EXPECT_TRUE(std::isnan(detection_tiou(5, 5, 5, 5)));
  EXPECT_TRUE(std::isnan(detection_tiou(5, 5, 7, 7)));
  EXPECT_DOUBLE_EQ(detection_tiou(5, 5, 0, 10), 0.0);
  const auto r = detect({clip("a", {{5, 5, "x"}})}, {preds("a", {{"x", .5, 7, 7}})});
  EXPECT_NEAR(r.average_mAP, 1.0, 1e-12);
}

TEST(Retrieval, FileOrderNotScoresAndStrictThreshold) {
  const auto gt = clip("a", {{0, 10, "x"}});
  // The hit is second in the file although its score is higher: R1 misses, R2 hits.
  auto r = retrieve({gt}, {preds("a", {{"x", .1, 50, 60}, {"x", .9, 0, 10}})});
  EXPECT_DOUBLE_EQ(r.recall[0][0], 0.0);
  for (size_t k = 1; k < 5; ++k) EXPECT_DOUBLE_EQ(r.recall[0][k], 1.0);
  // tIoU exactly 0.5 is not "> 0.5".
  r = retrieve({gt}, {preds("a", {{"x", .9, 0, 5}})});
  EXPECT_DOUBLE_EQ(r.recall[0][0], 1.0);
  EXPECT_DOUBLE_EQ(r.recall[1][0], 0.0);
}

TEST(Retrieval, KTimesTheLabelsGroundTruthAndEmptyCases) {
  // Two entries of x: R1 looks at the first 2 predictions of x, R2 at 4.
  const std::vector<data::Clip> gt = {clip("a", {{0, 10, "x"}, {20, 30, "x"}, {40, 50, "y"}}),
                                      clip("b", {{0, 10, "x"}})};
  const auto r = retrieve(gt, {preds("a", {{"x", 1, 0, 10}, {"y", 1, 40, 50}, {"x", 1, 60, 70},
                                           {"x", 1, 80, 90}, {"x", 1, 20, 30}})});
  // R1: x@[0,10] and y; R2 adds x@[20,30]; clip b has no predictions (counted empty).
  EXPECT_DOUBLE_EQ(r.recall[0][0], 2.0 / 4);
  EXPECT_DOUBLE_EQ(r.recall[0][1], 3.0 / 4);
  EXPECT_EQ(r.clips_without_predictions, 1);
  EXPECT_EQ(r.ground_truth, 4);
  // Zero length at one point: 0/0 = NaN, never "> tIoU" (unlike detection).
  EXPECT_TRUE(std::isnan(retrieval_tiou(5, 5, 5, 5)));
  EXPECT_DOUBLE_EQ(retrieve({clip("a", {{5, 5, "x"}})}, {preds("a", {{"x", 1, 5, 5}})}).recall[0][4],
                   0.0);
}

TEST(Score, SplitIsASubstringTestAndEmptySplitFails) {
  data::ClipAnnotations gt;
  gt.clips = {clip("a", {{0, 10, "x"}}), clip("b", {{0, 10, "x"}})};
  gt.clips[1].subset = "train";
  EXPECT_EQ(select_split(gt, "val").size(), 1u);
  EXPECT_EQ(select_split(gt, "trainval").size(), 2u);
  PredictionFile p = parse_predictions(R"({"results": {"a": []}})", "p.json");
  EXPECT_EQ(p.detection, p.retrieval);
  EXPECT_HAS(error_of([&] { score(gt, p, "test"); }), "no ground-truth annotation");
}

TEST(Predictions, BadInputsNameFileClipAndKey) {
  auto err = [](const std::string& text) {
    return error_of([&] { parse_predictions(text, "p.json"); });
  };
  EXPECT_HAS(err("{\"results\": "), "p.json: malformed JSON");
  EXPECT_HAS(err("[]"), "top level");
  EXPECT_HAS(err(R"({"version": "1.0"})"), "missing key 'detect_results'");
  EXPECT_HAS(err(R"({"detect_results": {}})"), "missing key 'retrieve_results'");
  EXPECT_HAS(err(R"({"results": []})"), "results is array");
  EXPECT_HAS(err(R"({"results": {"c1": {}}})"), "results.c1 is object");
  EXPECT_HAS(err(R"({"results": {"c1": [{"score": 1, "segment": [0, 1]}]}})"),
             "p.json: results.c1[0]: missing key 'label'");
  EXPECT_HAS(err(R"({"results": {"c1": [{"label": "x", "segment": [0, 1]}]}})"),
             "results.c1[0]: missing key 'score'");
  EXPECT_HAS(err(R"({"results": {"c1": [{"label": "x", "score": "high", "segment": [0, 1]}]}})"),
             "score is string");
  EXPECT_HAS(err(R"({"results": {"c1": [{"label": "x", "score": 1}]}})"), "missing key 'segment'");
  EXPECT_HAS(err(R"({"results": {"c1": [{"label": "x", "score": 1, "segment": [0]}]}})"),
             "segment must be [start, end]");
  EXPECT_HAS(err(R"({"results": {"c1": [{"label": 3, "score": 1, "segment": [0, 1]}]}})"),
             "label is number");
}

TEST(Cli, ScoresAndWritesTheMetricsJson) {
  const std::string out = ::testing::TempDir() + "s1_metrics_" + std::to_string(getpid()) + ".json";
  const auto r = asl::testing::run_asl({"score", "--gt", kData + "gt.json", "--pred",
                                        kData + "pred.json", "--json", out, "--threads", "2"});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_HAS(r.out, "mAP (%)");
  EXPECT_HAS(r.out, "34.79");  // the official 0.347869 at tIoU 0.1, in percent
  const Json got = Json::parse(read_file(out));
  const Json expected = Json::parse(read_file(kData + "expected.json"));
  EXPECT_NEAR(got["average_mAP"].get<double>(), expected["average_mAP"].get<double>(), 1e-12);
  EXPECT_NEAR(got["recall"]["R5@0.7"].get<double>(), expected["recall"]["R5@0.7"].get<double>(), 1e-12);
  std::remove(out.c_str());
}

TEST(Cli, BadPredictionsFailWithoutOutput) {
  const std::string dir = ::testing::TempDir();
  const std::string bad = dir + "s1_bad_" + std::to_string(getpid()) + ".json";
  const std::string out = dir + "s1_out_" + std::to_string(getpid()) + ".json";
  for (const std::string text : {"{not json", R"({"results": {"c1": [{"label": "x"}]}})"}) {
    std::ofstream(bad) << text;
    const auto r = asl::testing::run_asl(
        {"score", "--gt", kData + "gt.json", "--pred", bad, "--json", out});
    EXPECT_EQ(r.code, 1);
    EXPECT_HAS(r.err, bad);
    EXPECT_FALSE(path_exists(out));
  }
  std::remove(bad.c_str());
}

}  // namespace
}  // namespace asl::eval
