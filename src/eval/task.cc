#include "eval/task.h"

#include <spdlog/spdlog.h>

#include <cstdio>
#include <unordered_map>

#include "core/error.h"
#include "eval/metrics.h"

namespace asl::eval {

TaskAnnotations read_task_annotations(const config::Config& cfg) {
  TaskAnnotations t;
  const std::string& path = cfg.dataset.json_file;
  if (!cfg.is_nlq()) {
    t.clips = std::make_shared<const data::ClipAnnotations>(data::read_clip_annotations(path));
    return t;
  }
  if (!data::is_nlq_query_file(path)) {
    throw Error(path, "is not a query list, which model_name ASL_NLQ reads",
                "convert the official NLQ files with asl convert --nlq and set dataset.json_file "
                "to its output");
  }
  t.queries = std::make_shared<const data::NlqQueries>(data::read_nlq_queries(path));
  t.clips = std::make_shared<const data::ClipAnnotations>(data::nlq_as_clips(*t.queries));
  return t;
}

NlqGroundTruth nlq_ground_truth(const data::NlqQueries& queries, const std::string& split) {
  NlqGroundTruth gt;
  for (const data::NlqQuery* q : queries.select({split})) {
    if (!q->has_window) continue;
    gt.queries.push_back({q->clip_uid, q->annotation_uid, q->query_idx, q->start, q->end});
  }
  return gt;
}

NlqSubmission nlq_submission(const PredictionList& predictions, const data::NlqQueries& queries,
                             int64_t top_k) {
  std::unordered_map<std::string, const data::NlqQuery*> by_key;
  for (const auto& q : queries.queries) by_key.emplace(q.key(), &q);
  NlqSubmission s;
  int64_t empty = 0;
  for (const ClipPredictions& clip : predictions) {
    const auto it = by_key.find(clip.clip_id);
    if (it == by_key.end()) {
      throw Error("predictions", "query " + clip.clip_id + " is not in the query list",
                  "predict with the query list the submission is for");
    }
    NlqPrediction p;
    p.clip_uid = it->second->clip_uid;
    p.annotation_uid = it->second->annotation_uid;
    p.query_idx = it->second->query_idx;
    for (const Prediction& d : clip.predictions) {
      if (static_cast<int64_t>(p.predicted_times.size()) >= top_k) break;
      p.predicted_times.push_back({d.start, d.end});
    }
    if (p.predicted_times.empty()) {
      p.predicted_times.push_back({0.0, 0.0});
      ++empty;
    }
    s.results.push_back(std::move(p));
  }
  if (empty > 0) {
    spdlog::warn("{} of {} queries had no detection; their submission window is [0, 0]", empty,
                 predictions.size());
  }
  return s;
}

TaskScore score_split(const TaskAnnotations& annotations,
                      std::shared_ptr<const PredictionList> predictions, const std::string& split) {
  TaskScore t;
  char line[160];
  if (!annotations.queries) {
    const Metrics m = score(*annotations.clips, {predictions, predictions}, split);
    t.metrics_json = metrics_json(m);
    t.table = format_table(m);
    t.primary_key = "average_mAP";
    t.primary = m.detection.average_mAP;
    std::snprintf(line, sizeof line, "average mAP %.2f%%", 100 * t.primary);
    t.log_line = line;
    return t;
  }
  const NlqGroundTruth gt = nlq_ground_truth(*annotations.queries, split);
  if (gt.queries.empty()) {
    throw Error("split " + split, "has no query with an answer window to score",
                "score a split with ground truth (train or val)");
  }
  const NlqMetrics m = score_nlq(gt, nlq_submission(*predictions, *annotations.queries));
  t.metrics_json = nlq_metrics_json(m);
  t.table = format_nlq_table(m);
  t.primary_key = "mean_R1";
  t.primary = m.mean_r1;
  std::snprintf(line, sizeof line, "mean R@1 %.2f%%, R@5 IoU 0.3 %.2f%%, mIoU %.2f%%",
                100 * m.mean_r1, 100 * m.recall.at(1).at(0), 100 * m.miou);
  t.log_line = line;
  return t;
}

}  // namespace asl::eval
