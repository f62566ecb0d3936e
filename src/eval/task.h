// What differs between the two tracks at the pipeline's edges (docs/nlq.md): the annotations a
// config's task reads, how a split's predictions are scored, and the submission file. Moment
// Queries (MQ) and Natural Language Queries (NLQ, model_name ASL_NLQ) share everything in
// between: dataset, loader, network, training, inference. Tensor-free.
#pragma once

#include <memory>
#include <string>

#include "core/config.h"
#include "data/annotations.h"
#include "data/nlq.h"
#include "eval/nlq.h"
#include "eval/predictions.h"

namespace asl::eval {

struct TaskAnnotations {
  // MQ: the clip layout; NLQ: one "clip" per query (data::nlq_as_clips).
  std::shared_ptr<const data::ClipAnnotations> clips;
  std::shared_ptr<const data::NlqQueries> queries;  // NLQ only
};

// dataset.json_file read for the config's task: clip annotations (MQ) or the query list of
// `asl convert --nlq` (NLQ; a clip-annotation file there is an error saying so).
TaskAnnotations read_task_annotations(const config::Config& cfg);

// One split's score for the config's task.
struct TaskScore {
  std::string metrics_json;  // MQ: metrics_json(); NLQ: nlq_metrics_json()
  std::string table;         // what `asl eval` prints
  std::string primary_key;   // the metric validation keeps the best of: average_mAP | mean_R1
  double primary = 0;
  std::string log_line;      // one line for the training log
};

// MQ: the official MQ metrics on the split's clips. NLQ: Rank@K / mIoU on the split's queries
// that have a window (nlq_ground_truth), the submission made by nlq_submission.
TaskScore score_split(const TaskAnnotations& annotations,
                      std::shared_ptr<const PredictionList> predictions, const std::string& split);

// The NLQ ground truth of the queries of `split` that have a window.
NlqGroundTruth nlq_ground_truth(const data::NlqQueries& queries, const std::string& split);

// The NLQ submission: per predicted query its first `top_k` windows, best first (a query
// without any detection gets the window [0, 0], which matches nothing: the official evaluator
// fails on an empty list). Predictions whose key is not a query are an error naming it.
NlqSubmission nlq_submission(const PredictionList& predictions, const data::NlqQueries& queries,
                             int64_t top_k = 5);

}  // namespace asl::eval
