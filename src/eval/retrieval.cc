#include "eval/retrieval.h"

#include <algorithm>
#include <map>
#include <string>
#include <unordered_map>

#include "eval/parallel.h"

namespace asl::eval {

double retrieval_tiou(double pred_start, double pred_end, double gt_start, double gt_end) {
  const double intersection = std::max(0.0, std::min(pred_end, gt_end) - std::max(pred_start, gt_start));
  const double hull = std::max(0.0, std::max(pred_end, gt_end) - std::min(pred_start, gt_start));
  return intersection / hull;
}

RetrievalResult evaluate_retrieval(const std::vector<const data::Clip*>& ground_truth,
                                   const PredictionList& predictions, int threads) {
  RetrievalResult result;
  const size_t n_tiou = result.tious.size(), n_rank = result.ranks.size();
  // A clip id given twice in the file cannot happen (the reader keeps one); first wins here.
  std::unordered_map<std::string, const ClipPredictions*> by_clip;
  for (const auto& c : predictions) by_clip.emplace(c.clip_id, &c);

  // hits[clip][tiou * n_rank + rank]
  std::vector<std::vector<int64_t>> hits(ground_truth.size(),
                                         std::vector<int64_t>(n_tiou * n_rank, 0));
  std::vector<char> missing(ground_truth.size(), 0);
  parallel_for(static_cast<int64_t>(ground_truth.size()), threads, [&](int64_t ci) {
    const data::Clip& clip = *ground_truth[ci];
    const auto found = by_clip.find(clip.clip_id);
    // The official script raises KeyError here; an absent clip is scored as an empty list.
    if (found == by_clip.end()) missing[ci] = 1;
    std::map<std::string, std::vector<const Prediction*>> preds_of_label;  // file order
    if (found != by_clip.end()) {
      for (const auto& p : found->second->predictions) preds_of_label[p.label].push_back(&p);
    }
    std::map<std::string, std::vector<const data::Segment*>> gt_of_label;
    for (const auto& s : clip.annotations) gt_of_label[s.label].push_back(&s);

    for (const auto& [label, gts] : gt_of_label) {
      const auto pl = preds_of_label.find(label);
      if (pl == preds_of_label.end()) continue;  // none retrieved
      const auto& preds = pl->second;
      const int64_t n = static_cast<int64_t>(gts.size());
      for (const data::Segment* g : gts) {
        // First prediction (file order) above each tIoU; retrieved at rank r iff it is among
        // the first r·n.
        for (size_t t = 0; t < n_tiou; ++t) {
          int64_t first = -1;
          for (size_t p = 0; p < preds.size(); ++p) {
            if (retrieval_tiou(preds[p]->start, preds[p]->end, g->start, g->end) > result.tious[t]) {
              first = static_cast<int64_t>(p);
              break;
            }
          }
          if (first < 0) continue;
          for (size_t r = 0; r < n_rank; ++r) {
            if (first < result.ranks[r] * n) ++hits[ci][t * n_rank + r];
          }
        }
      }
    }
  });

  std::vector<int64_t> total(n_tiou * n_rank, 0);
  for (size_t ci = 0; ci < ground_truth.size(); ++ci) {
    result.ground_truth += static_cast<int64_t>(ground_truth[ci]->annotations.size());
    result.clips_without_predictions += missing[ci];
    for (size_t i = 0; i < total.size(); ++i) total[i] += hits[ci][i];
  }
  result.recall.assign(n_tiou, std::vector<double>(n_rank, 0.0));
  for (size_t t = 0; t < n_tiou; ++t) {
    for (size_t r = 0; r < n_rank; ++r) {
      result.recall[t][r] = result.ground_truth
                                ? static_cast<double>(total[t * n_rank + r]) /
                                      static_cast<double>(result.ground_truth)
                                : 0.0;
    }
  }
  return result;
}

}  // namespace asl::eval
