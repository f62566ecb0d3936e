#include "eval/detection.h"

#include <algorithm>
#include <unordered_map>

#include "eval/numpy_sort.h"
#include "eval/parallel.h"

namespace asl::eval {
namespace {

struct Entry {
  int64_t clip;  // index into the clip-id table; -1 for clips without ground truth
  double start, end, score;
};

// Descending order as the official `argsort()[::-1]` gives it.
std::vector<int64_t> descending(const std::vector<double>& values) {
  auto order = numpy_argsort(values);
  std::reverse(order.begin(), order.end());
  return order;
}

std::vector<double> class_ap(const std::vector<Entry>& gt, const std::vector<Entry>& preds,
                             const std::vector<double>& tious) {
  const size_t n_tiou = tious.size();
  std::vector<double> ap(n_tiou, 0.0);
  if (preds.empty()) return ap;

  std::unordered_map<int64_t, std::vector<int64_t>> gt_of_clip;  // entries in file order
  for (size_t g = 0; g < gt.size(); ++g) gt_of_clip[gt[g].clip].push_back(static_cast<int64_t>(g));

  std::vector<double> scores(preds.size());
  for (size_t p = 0; p < preds.size(); ++p) scores[p] = preds[p].score;
  const auto order = descending(scores);

  std::vector<std::vector<char>> locked(n_tiou, std::vector<char>(gt.size(), 0));
  std::vector<std::vector<char>> tp(n_tiou, std::vector<char>(preds.size(), 0));
  std::vector<double> tiou;
  for (size_t rank = 0; rank < order.size(); ++rank) {
    const Entry& pred = preds[order[rank]];
    const auto found = pred.clip < 0 ? gt_of_clip.end() : gt_of_clip.find(pred.clip);
    if (found == gt_of_clip.end()) continue;  // false positive at every threshold
    const auto& candidates = found->second;
    tiou.resize(candidates.size());
    for (size_t c = 0; c < candidates.size(); ++c) {
      const Entry& g = gt[candidates[c]];
      tiou[c] = detection_tiou(pred.start, pred.end, g.start, g.end);
    }
    const auto best_first = descending(tiou);  // NaN first: numpy sorts it last
    for (size_t t = 0; t < n_tiou; ++t) {
      for (const int64_t c : best_first) {
        if (tiou[c] < tious[t]) break;  // false positive; NaN passes this test
        const int64_t g = candidates[c];
        if (locked[t][g]) continue;
        locked[t][g] = 1;
        tp[t][rank] = 1;
        break;
      }
    }
  }

  const double npos = static_cast<double>(gt.size());
  std::vector<double> precision(preds.size()), recall(preds.size());
  for (size_t t = 0; t < n_tiou; ++t) {
    double tp_sum = 0, fp_sum = 0;
    for (size_t r = 0; r < preds.size(); ++r) {
      (tp[t][r] ? tp_sum : fp_sum) += 1;
      recall[r] = tp_sum / npos;
      precision[r] = tp_sum / (tp_sum + fp_sum);
    }
    ap[t] = interpolated_ap(precision, recall);
  }
  return ap;
}

}  // namespace

double detection_tiou(double pred_start, double pred_end, double gt_start, double gt_end) {
  const double intersection = std::max(0.0, std::min(pred_end, gt_end) - std::max(pred_start, gt_start));
  const double united = (gt_end - gt_start) + (pred_end - pred_start) - intersection;
  return intersection / united;
}

double interpolated_ap(const std::vector<double>& precision, const std::vector<double>& recall) {
  const size_t n = precision.size();
  std::vector<double> mprec(n + 2, 0.0), mrec(n + 2, 0.0);
  for (size_t i = 0; i < n; ++i) {
    mprec[i + 1] = precision[i];
    mrec[i + 1] = recall[i];
  }
  mrec[n + 1] = 1.0;
  for (size_t i = n + 1; i-- > 0;) mprec[i] = std::max(mprec[i], mprec[i + 1]);
  double ap = 0;
  for (size_t i = 1; i < n + 2; ++i) {
    if (mrec[i] != mrec[i - 1]) ap += (mrec[i] - mrec[i - 1]) * mprec[i];
  }
  return ap;
}

DetectionResult evaluate_detection(const std::vector<const data::Clip*>& ground_truth,
                                   const PredictionList& predictions,
                                   const std::vector<double>& tious, int threads) {
  DetectionResult result;
  result.tious = tious;
  std::unordered_map<std::string, int64_t> class_of, clip_of;
  std::vector<std::vector<Entry>> gt, preds;
  for (const data::Clip* clip : ground_truth) {
    const int64_t clip_index = clip_of.emplace(clip->clip_id, clip_of.size()).first->second;
    for (const auto& s : clip->annotations) {
      const auto [it, added] = class_of.emplace(s.label, class_of.size());
      if (added) {
        result.classes.push_back(s.label);
        gt.emplace_back();
      }
      gt[it->second].push_back({clip_index, s.start, s.end, 0});
      ++result.ground_truth;
    }
  }
  preds.resize(gt.size());
  for (const auto& clip : predictions) {
    const auto c = clip_of.find(clip.clip_id);
    const int64_t clip_index = c == clip_of.end() ? -1 : c->second;
    for (const auto& p : clip.predictions) {
      const auto k = class_of.find(p.label);
      if (k == class_of.end()) {
        ++result.ignored_predictions;
        continue;
      }
      preds[k->second].push_back({clip_index, p.start, p.end, p.score});
      ++result.predictions;
    }
  }

  const size_t n_class = gt.size();
  std::vector<std::vector<double>> ap_of_class(n_class);
  parallel_for(static_cast<int64_t>(n_class), threads,
               [&](int64_t k) { ap_of_class[k] = class_ap(gt[k], preds[k], tious); });

  result.ap.assign(tious.size(), std::vector<double>(n_class, 0.0));
  result.mAP.assign(tious.size(), 0.0);
  for (size_t t = 0; t < tious.size(); ++t) {
    double sum = 0;
    for (size_t k = 0; k < n_class; ++k) {
      result.ap[t][k] = ap_of_class[k][t];
      sum += ap_of_class[k][t];
    }
    result.mAP[t] = n_class ? sum / static_cast<double>(n_class) : 0.0;
    result.average_mAP += result.mAP[t];
  }
  if (!tious.empty()) result.average_mAP /= static_cast<double>(tious.size());
  return result;
}

}  // namespace asl::eval
