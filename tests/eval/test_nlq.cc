// NLQ scoring against the official Ego4D NLQ evaluator's numbers (fixtures made by
// make_nlq_fixtures.py), hand-worked cases, IoU edge cases, bad inputs and asl score --task nlq.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <fstream>
#include <limits>
#include <nlohmann/json.hpp>
#include <set>

#include "cli/run.h"
#include "common/test_util.h"
#include "core/fs.h"
#include "eval/nlq.h"

namespace asl::eval {
namespace {

using asl::testing::error_of;
using Json = nlohmann::json;

const std::string kNlqData = std::string(ASL_SOURCE_DIR) + "/tests/eval/data/nlq/";

std::string temp_path(const std::string& name) {
  return ::testing::TempDir() + "nlq_" + std::to_string(getpid()) + "_" + name;
}

std::string write_temp(const std::string& name, const std::string& text) {
  const std::string path = temp_path(name);
  std::ofstream(path) << text;
  return path;
}

NlqGroundTruth gt_of(std::vector<std::pair<double, double>> windows) {
  NlqGroundTruth gt;
  for (size_t i = 0; i < windows.size(); ++i) {
    gt.queries.push_back({"clip", "ann", static_cast<int64_t>(i), windows[i].first, windows[i].second});
  }
  return gt;
}

NlqPrediction pred(int64_t query_idx, std::vector<std::array<double, 2>> times) {
  return {"clip", "ann", query_idx, std::move(times)};
}

void expect_metrics_near(const Json& got, const Json& want) {
  for (const auto& [key, value] : want.items()) {
    ASSERT_TRUE(got.contains(key)) << key;
    if (value.is_number_integer()) {
      EXPECT_EQ(got[key].get<int64_t>(), value.get<int64_t>()) << key;
    } else {
      EXPECT_NEAR(got[key].get<double>(), value.get<double>(), 1e-12) << key;
    }
  }
  EXPECT_EQ(got.size(), want.size());
}

TEST(NlqOfficial, MatchesTheOfficialEvaluatorOnTheFixture) {
  const NlqGroundTruth gt = read_nlq_ground_truth(kNlqData + "gt.json");
  const NlqSubmission sub = read_nlq_submission(kNlqData + "submission.json");
  const Json expected = Json::parse(read_file(kNlqData + "expected.json"));
  EXPECT_EQ(gt.queries.size(), 40u);
  EXPECT_EQ(sub.results.size(), 34u);

  const NlqMetrics m = score_nlq(gt, sub);
  expect_metrics_near(Json::parse(nlq_metrics_json(m)), expected["metrics"]);
  EXPECT_EQ(m.evaluated, 34);
  EXPECT_EQ(m.num_gt_queries, 40);

  const NlqMetrics wide = score_nlq(gt, sub, {0.1, 0.3, 0.5, 0.7}, {1, 3, 5, 10});
  expect_metrics_near(Json::parse(nlq_metrics_json(wide)), expected["wide"]);

  // average_IoU, prediction by prediction: the first window's IoU.
  const auto& per = expected["first_window_iou"];
  ASSERT_EQ(per.size(), sub.results.size());
  std::map<std::tuple<std::string, std::string, int64_t>, const NlqGroundTruthQuery*> by_key;
  for (const auto& q : gt.queries) by_key[{q.clip_uid, q.annotation_uid, q.query_idx}] = &q;
  for (size_t i = 0; i < per.size(); ++i) {
    const auto& p = sub.results[i];
    const auto* g = by_key.at({p.clip_uid, p.annotation_uid, p.query_idx});
    EXPECT_NEAR(nlq_iou(p.predicted_times[0][0], p.predicted_times[0][1], g->start, g->end),
                per[i].get<double>(), 1e-15) << i;
  }
}

TEST(NlqHandWorked, StrictThresholdTopKAndFirstWindowMiou) {
  // Ground truth: q0 [0, 10], q1 [20, 30].
  // q0 predicts [0, 5] then [0, 10]: IoU 5/10 = 0.5 (not > 0.5), then 1.
  // q1 predicts [40, 50] then [21, 30]: IoU 0 (disjoint), then 9/10 = 0.9.
  //   R1@0.3: q0 (0.5 > 0.3)              -> 1/2     R1@0.5: none (0.5 is not > 0.5) -> 0
  //   R5@0.3: q0, q1 (0.9 at window 2)    -> 1       R5@0.5: q0 (1.0), q1 (0.9)      -> 1
  //   mIoU: first windows only, (0.5 + 0) / 2 = 0.25 (not 0.95: later windows do not count)
  //   mean_R1: (1/2 + 0) / 2 = 0.25
  NlqSubmission sub;
  sub.results = {pred(0, {{0, 5}, {0, 10}}), pred(1, {{40, 50}, {21, 30}})};
  const NlqMetrics m = score_nlq(gt_of({{0, 10}, {20, 30}}), sub);
  ASSERT_EQ(m.recall.size(), 2u);
  EXPECT_DOUBLE_EQ(m.recall[0][0], 0.5);
  EXPECT_DOUBLE_EQ(m.recall[0][1], 0.0);
  EXPECT_DOUBLE_EQ(m.recall[1][0], 1.0);
  EXPECT_DOUBLE_EQ(m.recall[1][1], 1.0);
  EXPECT_DOUBLE_EQ(m.miou, 0.25);
  EXPECT_DOUBLE_EQ(m.mean_r1, 0.25);
  EXPECT_EQ(m.evaluated, 2);
  EXPECT_EQ(m.num_gt_queries, 2);
  const std::string table = format_nlq_table(m);
  EXPECT_HAS(table, "Evaluated: 2 / 2 queries");
  EXPECT_HAS(table, "50.00");
  EXPECT_HAS(table, "mIoU (%) 25.00");
}

TEST(NlqHandWorked, BoundaryAtPointThreeIsAMiss) {
  // 3/10 is the double 0.3 exactly: not > 0.3.
  EXPECT_EQ(nlq_iou(0, 3, 0, 10), 0.3);
  NlqSubmission sub;
  sub.results = {pred(0, {{0, 3}})};
  const NlqMetrics m = score_nlq(gt_of({{0, 10}}), sub);
  EXPECT_DOUBLE_EQ(m.recall[0][0], 0.0);
  EXPECT_DOUBLE_EQ(m.miou, 0.3);
}

TEST(NlqHandWorked, TopKCutsTheListAndShortListsAreFine) {
  // The hit is the 6th of 7 windows: outside top 5, inside top 10; a 1-window list under
  // top 5 just uses its window.
  std::vector<std::array<double, 2>> seven(7, {100, 110});
  seven[5] = {0, 10};
  NlqSubmission sub;
  sub.results = {pred(0, seven), pred(1, {{20, 30}})};
  const NlqMetrics m = score_nlq(gt_of({{0, 10}, {20, 30}}), sub, {0.5}, {1, 5, 10});
  EXPECT_DOUBLE_EQ(m.recall[0][0], 0.5);  // R1: q1
  EXPECT_DOUBLE_EQ(m.recall[1][0], 0.5);  // R5: q1
  EXPECT_DOUBLE_EQ(m.recall[2][0], 1.0);  // R10: both
  EXPECT_DOUBLE_EQ(m.mean_r1, 0.5);
  const Json j = Json::parse(nlq_metrics_json(m));
  EXPECT_TRUE(j.contains("R10@0.5"));
}

TEST(NlqHandWorked, DuplicatePredictionsAreEachScoredAndQueriesWithoutOnesCount) {
  // As the official loop: each entry is an instance, even for the same key.
  NlqSubmission sub;
  sub.results = {pred(0, {{0, 10}}), pred(0, {{50, 60}})};
  const NlqMetrics m = score_nlq(gt_of({{0, 10}, {20, 30}, {40, 45}}), sub);
  EXPECT_EQ(m.evaluated, 2);
  EXPECT_EQ(m.num_gt_queries, 3);
  EXPECT_DOUBLE_EQ(m.recall[0][0], 0.5);
  EXPECT_DOUBLE_EQ(m.miou, 0.5);
  EXPECT_HAS(format_nlq_table(m), "Evaluated: 2 / 3 queries");
}

TEST(NlqIou, UnionIsTheHullAndDegenerateCases) {
  EXPECT_DOUBLE_EQ(nlq_iou(0, 5, 0, 10), 0.5);
  EXPECT_DOUBLE_EQ(nlq_iou(0, 6, 4, 10), 0.2);   // inter 2, union 10 - 0
  EXPECT_DOUBLE_EQ(nlq_iou(4, 10, 0, 6), 0.2);   // symmetric
  EXPECT_DOUBLE_EQ(nlq_iou(0, 2, 8, 10), 0.0);   // disjoint: inter 0 over the hull 10
  EXPECT_DOUBLE_EQ(nlq_iou(2, 8, 0, 10), 0.6);   // inside
  EXPECT_DOUBLE_EQ(nlq_iou(0, 10, 5, 5), 0.0);   // zero-length ground truth inside: inter 0
  EXPECT_DOUBLE_EQ(nlq_iou(5, 5, 0, 10), 0.0);   // zero-length prediction inside
  EXPECT_DOUBLE_EQ(nlq_iou(8, 2, 3, 6), 0.0);    // reversed prediction: inter clipped at 0
  EXPECT_DOUBLE_EQ(nlq_iou(6, 2, 1, 9), 0.0);
  EXPECT_DOUBLE_EQ(nlq_iou(1, 9, 6, 2), 0.0);    // reversed ground truth
  // Union 0 (numpy: 0/0 = NaN): 0 here.
  EXPECT_DOUBLE_EQ(nlq_iou(5, 5, 5, 5), 0.0);
  EXPECT_DOUBLE_EQ(nlq_iou(90, 60, 90, 60), 0.0);
  EXPECT_DOUBLE_EQ(nlq_iou(5, 3, 6, 2), 0.0);
  // NaN in, NaN out (numpy's maximum / minimum propagate it).
  const double nan = std::numeric_limits<double>::quiet_NaN();
  EXPECT_TRUE(std::isnan(nlq_iou(nan, 5, 0, 10)));
  EXPECT_TRUE(std::isnan(nlq_iou(0, 5, 0, nan)));
  // The union-0 first window adds 0 to mIoU (official: NaN, and a NaN mIoU) and never hits.
  NlqSubmission sub;
  sub.results = {pred(0, {{5, 5}}), pred(1, {{0, 10}})};
  const NlqMetrics m = score_nlq(gt_of({{5, 5}, {0, 10}}), sub);
  EXPECT_DOUBLE_EQ(m.miou, 0.5);
  EXPECT_DOUBLE_EQ(m.recall[1][0], 0.5);
}

TEST(NlqIou, MeanIsNumpysPairwiseSum) {
  // 200 first-window IoUs of 0.1 (1/10 in doubles): numpy sums them pairwise, which is not the
  // left-to-right sum; the mean must be numpy's: (0 + pairwise_sum) / 200.
  NlqSubmission sub;
  std::vector<std::pair<double, double>> windows(200, {0, 10});
  for (int i = 0; i < 200; ++i) sub.results.push_back(pred(i, {{0, 1}}));
  const NlqMetrics m = score_nlq(gt_of(windows), sub);
  double naive = 0;
  for (int i = 0; i < 200; ++i) naive += 0.1;
  // numpy.mean(np.full(200, 0.1)) == 0.1 exactly; the naive sum gives 0.10000000000000007.
  EXPECT_EQ(m.miou, 0.1);
  EXPECT_NE(naive / 200, 0.1);
}

TEST(NlqInputs, SubmissionErrorsNameTheFileTheEntryAndTheKey) {
  const auto err = [](const std::string& text) {
    const std::string path = write_temp("sub.json", text);
    const std::string e = error_of([&] { read_nlq_submission(path); });
    EXPECT_HAS(e, path);
    std::remove(path.c_str());
    return e;
  };
  const std::string head = R"({"version": "1.0", "challenge": "ego4d_nlq_challenge", "results": )";
  const std::string entry = R"("clip_uid": "c1", "annotation_uid": "a1", "query_idx": 2)";
  const std::string named = "results[0] (clip_uid c1, annotation_uid a1, query_idx 2)";
  EXPECT_HAS(err("{\"version\": "), "malformed JSON");
  EXPECT_HAS(err("[]"), "expected an object");
  EXPECT_HAS(err(R"({"challenge": "ego4d_nlq_challenge", "results": []})"), "missing key 'version'");
  EXPECT_HAS(err(R"({"version": "1.1", "challenge": "ego4d_nlq_challenge", "results": []})"),
             "version: is \"1.1\", expected \"1.0\"");
  EXPECT_HAS(err(R"({"version": 1.0, "challenge": "ego4d_nlq_challenge", "results": []})"),
             "version: is 1.0, expected \"1.0\"");
  EXPECT_HAS(err(R"({"version": "1.0", "challenge": "ego4d_moment_queries", "results": []})"),
             "challenge: is \"ego4d_moment_queries\", expected \"ego4d_nlq_challenge\"");
  EXPECT_HAS(err(R"({"version": "1.0", "challenge": "ego4d_nlq_challenge"})"), "missing key 'results'");
  EXPECT_HAS(err(head + "{}}"), "results: is object, expected a list");
  EXPECT_HAS(err(head + R"([{"annotation_uid": "a1", "query_idx": 0, "predicted_times": [[0, 1]]}]})"),
             "results[0]: missing key 'clip_uid'");
  EXPECT_HAS(err(head + "[{" + entry + "}]}"), named + ": missing key 'predicted_times'");
  EXPECT_HAS(err(head + "[{" + entry + R"(, "predicted_times": [[0, 1], ["a", 2]]}]})"),
             "results[0].predicted_times[1][0] (clip_uid c1, annotation_uid a1, query_idx 2): is "
             "string, expected a number");
  EXPECT_HAS(err(head + "[{" + entry + R"(, "predicted_times": [[0, 1], [null, 2]]}]})"),
             "predicted_times[1][0] (clip_uid c1, annotation_uid a1, query_idx 2): is null, expected a number");
  EXPECT_HAS(err(head + "[{" + entry + R"(, "predicted_times": [[0, 1, 0.9]]}]})"),
             "predicted_times[0] (clip_uid c1, annotation_uid a1, query_idx 2): has 3 values, expected [start, end]");
  EXPECT_HAS(err(head + "[{" + entry + R"(, "predicted_times": [0, 1]}]})"),
             "predicted_times (clip_uid c1, annotation_uid a1, query_idx 2): is a list of number, "
             "expected a list of [start, end] windows");
  EXPECT_HAS(err(head + "[{" + entry + R"(, "predicted_times": []}]})"),
             "results[0].predicted_times (clip_uid c1, annotation_uid a1, query_idx 2): is empty");
  EXPECT_HAS(err(head + R"([{"clip_uid": "c1", "annotation_uid": "a1", "query_idx": -1, "predicted_times": [[0, 1]]}]})"),
             "results[0].query_idx: is -1, expected an index 0 or more");
  EXPECT_HAS(err(head + R"([{"clip_uid": "c1", "annotation_uid": "a1", "query_idx": 1.0, "predicted_times": [[0, 1]]}]})"),
             "results[0].query_idx: is number 1.0, expected an integer");
  EXPECT_HAS(err(head + R"([{"clip_uid": 7, "annotation_uid": "a1", "query_idx": 1, "predicted_times": [[0, 1]]}]})"),
             "results[0].clip_uid: is number, expected a string");
}

TEST(NlqInputs, GroundTruthErrorsNameTheFileAndTheQuery) {
  const auto err = [](const std::string& text) {
    const std::string path = write_temp("gt.json", text);
    const std::string e = error_of([&] { read_nlq_ground_truth(path); });
    EXPECT_HAS(e, path);
    std::remove(path.c_str());
    return e;
  };
  const auto gt = [](const std::string& queries) {
    return R"({"videos": [{"clips": [{"clip_uid": "c1", "annotations": [{"annotation_uid": "a1", "language_queries": )" +
           queries + "}]}]}]}";
  };
  EXPECT_HAS(err("{}"), "missing key 'videos'");
  EXPECT_HAS(err(R"({"videos": [{"clips": [{"annotations": []}]}]})"),
             "videos[0].clips[0]: missing key 'clip_uid'");
  EXPECT_HAS(err(gt(R"([{"clip_start_sec": 1, "clip_end_sec": 2}, {"clip_start_sec": 1}])")),
             "videos[0].clips[0].annotations[0].language_queries[1] (clip_uid c1, annotation_uid a1, "
             "query_idx 1): missing key 'clip_end_sec'");
  EXPECT_HAS(err(gt(R"([{"clip_start_sec": "1", "clip_end_sec": 2}])")),
             "language_queries[0].clip_start_sec (clip_uid c1, annotation_uid a1, query_idx 0): is "
             "string, expected a number");
  const std::string twice =
      R"({"videos": [{"clips": [{"clip_uid": "c1", "annotations": [
         {"annotation_uid": "a1", "language_queries": []},
         {"annotation_uid": "a1", "language_queries": []}]}]}]})";
  EXPECT_HAS(err(twice), "annotations[1] (clip_uid c1, annotation_uid a1): this clip_uid and "
                         "annotation_uid are also at videos[0].clips[0].annotations[0]");
  // Every language query counts, with or without its text; reversed and zero-length windows
  // are read as they are.
  const std::string path = write_temp("gt_ok.json", gt(R"([{"clip_start_sec": 9, "clip_end_sec": 2},
      {"clip_start_sec": 4.5, "clip_end_sec": 4.5, "query": "where?"}])"));
  const NlqGroundTruth ok = read_nlq_ground_truth(path);
  std::remove(path.c_str());
  ASSERT_EQ(ok.queries.size(), 2u);
  EXPECT_EQ(ok.queries[1].query_idx, 1);
  EXPECT_EQ(ok.queries[0].start, 9);
  EXPECT_EQ(ok.queries[0].end, 2);
  EXPECT_EQ(ok.queries[1].annotation_uid, "a1");
}

TEST(NlqInputs, UnknownQueriesAndBadArgumentsAreErrors) {
  const std::string gt_path = kNlqData + "gt.json";
  const NlqGroundTruth gt = read_nlq_ground_truth(gt_path);
  const std::string sub_path = write_temp("unknown.json", R"({"version": "1.0",
      "challenge": "ego4d_nlq_challenge", "results": [
      {"clip_uid": ")" + gt.queries[0].clip_uid + R"(", "annotation_uid": ")" +
      gt.queries[0].annotation_uid + R"(", "query_idx": 0, "predicted_times": [[0, 1]]},
      {"clip_uid": "nowhere", "annotation_uid": "none", "query_idx": 0, "predicted_times": [[0, 1]]}]})");
  NlqSubmission sub = read_nlq_submission(sub_path);
  std::remove(sub_path.c_str());
  std::string e = error_of([&] { score_nlq(gt, sub); });
  EXPECT_HAS(e, sub_path + ": results[1] (clip_uid nowhere, annotation_uid none, query_idx 0)");
  EXPECT_HAS(e, "are not in " + gt_path);
  sub.results[1] = sub.results[0];
  sub.results[1].query_idx = 99;
  e = error_of([&] { score_nlq(gt, sub); });
  EXPECT_HAS(e, "results[1] (clip_uid " + gt.queries[0].clip_uid);
  EXPECT_HAS(e, "query_idx 99): no such query_idx in " + gt_path + " (that annotation has 3 language queries)");

  sub.results.resize(1);
  EXPECT_HAS(error_of([&] { score_nlq(gt, NlqSubmission{}); }), "submission: has no predictions");
  EXPECT_HAS(error_of([&] { score_nlq(gt, sub, {-0.1}); }), "IoU threshold -0.1");
  EXPECT_HAS(error_of([&] { score_nlq(gt, sub, {std::nan("")}); }), "IoU threshold");
  EXPECT_HAS(error_of([&] { score_nlq(gt, sub, {0.5}, {0}); }), "top-K 0 is below 1");
  EXPECT_HAS(error_of([&] { score_nlq(gt, sub, {}); }), "no IoU threshold");
  NlqSubmission empty_times = sub;
  empty_times.results[0].predicted_times.clear();
  EXPECT_HAS(error_of([&] { score_nlq(gt, empty_times); }), "predicted_times is empty");
  NlqGroundTruth twice = gt_of({{0, 1}, {2, 3}});
  twice.queries[1].query_idx = 0;
  EXPECT_HAS(error_of([&] { score_nlq(twice, sub); }),
             "ground truth: query clip_uid clip, annotation_uid ann, query_idx 0 is given twice");
}

TEST(NlqSubmissionJson, RoundTrips) {
  NlqSubmission s;
  s.results = {{"c-1", "a-1", 0, {{0.1, 0.30000000000000004}, {1e-300, 123456.789}}},
               {"c\"2", "a/2", 7, {{5, 5}, {9.5, 2.25}, {-0.0, 480}}}};
  const std::string path = temp_path("round_trip.json");
  write_file_atomic(path, nlq_submission_json(s));
  const Json j = Json::parse(read_file(path));
  EXPECT_EQ(j["version"], "1.0");
  EXPECT_EQ(j["challenge"], "ego4d_nlq_challenge");
  EXPECT_EQ(j["results"][1]["query_idx"], 7);
  EXPECT_EQ(j["results"][1]["predicted_times"][1], Json::parse("[9.5, 2.25]"));
  const NlqSubmission back = read_nlq_submission(path);
  std::remove(path.c_str());
  EXPECT_EQ(back.source, path);
  ASSERT_EQ(back.results.size(), s.results.size());
  for (size_t i = 0; i < s.results.size(); ++i) {
    EXPECT_EQ(back.results[i].clip_uid, s.results[i].clip_uid);
    EXPECT_EQ(back.results[i].annotation_uid, s.results[i].annotation_uid);
    EXPECT_EQ(back.results[i].query_idx, s.results[i].query_idx);
    EXPECT_EQ(back.results[i].predicted_times, s.results[i].predicted_times);  // bit for bit
  }
}

TEST(NlqCli, ScoresAndWritesTheMetricsJson) {
  const std::string out = temp_path("metrics.json");
  const auto r = asl::testing::run_asl({"score", "--task", "nlq", "--gt", kNlqData + "gt.json",
                                        "--pred", kNlqData + "submission.json", "--json", out});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_HAS(r.out, "Evaluated: 34 / 40 queries");
  EXPECT_HAS(r.out, "38.24");  // the official table's Rank@1 mIoU@0.3
  EXPECT_HAS(r.out, "28.00");  // and its mIoU
  const Json got = Json::parse(read_file(out));
  std::set<std::string> keys;
  for (const auto& [key, value] : got.items()) keys.insert(key);
  EXPECT_EQ(keys, (std::set<std::string>{"R1@0.3", "R1@0.5", "R5@0.3", "R5@0.5", "mIoU", "mean_R1",
                                         "evaluated", "num_gt_queries"}));
  expect_metrics_near(got, Json::parse(read_file(kNlqData + "expected.json"))["metrics"]);
  std::remove(out.c_str());
}

TEST(NlqCli, RefusesSplitAndBadSubmissionsWithoutOutput) {
  const std::string out = temp_path("refused.json");
  auto r = asl::testing::run_asl({"score", "--task", "nlq", "--gt", kNlqData + "gt.json", "--pred",
                                  kNlqData + "submission.json", "--split", "val", "--json", out});
  EXPECT_EQ(r.code, 1);
  EXPECT_HAS(r.err, "--split");
  EXPECT_FALSE(path_exists(out));
  const std::string bad = write_temp("bad_sub.json",
                                     R"({"version": "1.0", "challenge": "other", "results": []})");
  r = asl::testing::run_asl(
      {"score", "--task", "nlq", "--gt", kNlqData + "gt.json", "--pred", bad, "--json", out});
  EXPECT_EQ(r.code, 1);
  EXPECT_HAS(r.err, bad + ": challenge");
  EXPECT_FALSE(path_exists(out));
  std::remove(bad.c_str());
}

}  // namespace
}  // namespace asl::eval
