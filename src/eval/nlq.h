// Natural Language Queries scoring with the official Ego4D NLQ evaluator's semantics
// (docs/evaluation.md): Rank@K at temporal IoU thresholds and mIoU, and the NLQ challenge's
// submission file. Tensor-free.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <vector>

namespace asl::eval {

// One ground-truth query: its key triple and answer window (clip-relative seconds).
struct NlqGroundTruthQuery {
  std::string clip_uid;
  std::string annotation_uid;
  int64_t query_idx = 0;
  double start = 0;
  double end = 0;
};

struct NlqGroundTruth {
  std::vector<NlqGroundTruthQuery> queries;  // every language query, in file order
  std::string source;  // the file read (names it in score_nlq's errors); empty: built in memory
};

// The official layout (nlq_val.json: videos -> clips -> annotations -> language_queries with
// clip_start_sec / clip_end_sec), as the official evaluator reads it: every language query
// counts, none is dropped. Errors name the file and the clip / annotation / query. Every query
// needs numeric clip_start_sec / clip_end_sec (the official evaluator reads them only for
// predicted queries), and a (clip_uid, annotation_uid) given twice is refused (the official
// evaluator counts both but looks queries up in the last one only).
NlqGroundTruth read_nlq_ground_truth(const std::string& path);

struct NlqPrediction {
  std::string clip_uid;
  std::string annotation_uid;
  int64_t query_idx = 0;
  std::vector<std::array<double, 2>> predicted_times;  // best first, clip-relative seconds
};

struct NlqSubmission {
  std::string version = "1.0";
  std::string challenge = "ego4d_nlq_challenge";
  std::vector<NlqPrediction> results;
  std::string source;  // the file read (names it in score_nlq's errors); empty: built in memory
};

// Reads a submission; refuses (naming the file and entry) what the official evaluator refuses:
// another version or challenge, missing keys, windows that are not [start, end] numbers; and
// what it would crash on or read oddly: an empty predicted_times, a query_idx that is not an
// integer >= 0, a window of other than two numbers, a bare [start, end] not inside a list.
NlqSubmission read_nlq_submission(const std::string& path);
// {"version": "1.0", "challenge": "ego4d_nlq_challenge", "results": [{"clip_uid": ..,
//  "annotation_uid": .., "query_idx": .., "predicted_times": [[s, e], ...]}, ...]}
std::string nlq_submission_json(const NlqSubmission& submission);

struct NlqMetrics {
  std::vector<double> thresholds{0.3, 0.5};
  std::vector<int64_t> top_k{1, 5};
  // recall[k][t]: fraction of evaluated queries with an IoU > thresholds[t] among their first
  // top_k[k] predictions.
  std::vector<std::vector<double>> recall;
  double miou = 0;            // mean over evaluated queries of the first prediction's IoU
  double mean_r1 = 0;         // mean of Rank@1 over the thresholds (the challenge's ranking),
                              // whether or not top_k holds 1
  int64_t evaluated = 0;      // predictions scored
  int64_t num_gt_queries = 0; // ground-truth queries
};

// The official compute_IoU of one predicted window with the ground-truth window:
// max(0, min(ends) - max(starts)) / max(0, max(ends) - min(starts)), NaN in, NaN out. The one
// departure: where the union is 0 (no end after either start: both windows one and the same
// instant, or reversed windows) numpy gives 0/0 = NaN; this gives 0 (the intersection is then
// always 0). Rank@K is the same either way for thresholds >= 0; the official mIoU is NaN there.
double nlq_iou(double pred_start, double pred_end, double gt_start, double gt_end);

// The official evaluate_nlq_performance: per prediction, the IoU of each predicted window with
// the ground-truth window (union = max end - min start), Rank@K counts an IoU strictly above
// the threshold, mIoU averages the top-3 of the IoUs of the first prediction only; means are
// over the predictions (numpy's pairwise summation, so the same doubles). A prediction whose key
// has no ground truth is an error naming it; duplicate predictions are each scored, as there.
// Refuses: no predictions (numpy's mean of nothing is NaN), an empty predicted_times, a query
// key twice in the ground truth, thresholds that are not finite numbers >= 0, a top_k
// below 1, an empty list of either.
NlqMetrics score_nlq(const NlqGroundTruth& ground_truth, const NlqSubmission& submission,
                     std::vector<double> thresholds = {0.3, 0.5},
                     std::vector<int64_t> top_k = {1, 5});

// {"R1@0.3": x, "R1@0.5": x, "R5@0.3": x, "R5@0.5": x, "mIoU": x, "mean_R1": x,
//  "evaluated": n, "num_gt_queries": n}: fractions.
std::string nlq_metrics_json(const NlqMetrics& metrics);

// The table `asl score --task nlq` prints, in percent, with "Evaluated: n / m queries".
std::string format_nlq_table(const NlqMetrics& metrics);

}  // namespace asl::eval
