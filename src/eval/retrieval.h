// Recall@kx as the official Ego4D MQ retrieval script (get_retrieval_performance.py) computes
// it: per clip and label, a ground-truth entry is retrieved at k when one of the first k·n
// predictions of that label, in file order, overlaps it by more than the tIoU (n: the label's
// ground-truth entries in the clip). Scores are not read.
#pragma once

#include <cstdint>
#include <vector>

#include "data/annotations.h"
#include "eval/predictions.h"

namespace asl::eval {

inline const std::vector<double> kRetrievalTious = {0.3, 0.5, 0.7};
inline const std::vector<int> kRetrievalRanks = {1, 2, 3, 4, 5};

struct RetrievalResult {
  std::vector<double> tious = kRetrievalTious;
  std::vector<int> ranks = kRetrievalRanks;
  std::vector<std::vector<double>> recall;  // [tiou][rank], fractions
  int64_t ground_truth = 0;                 // entries, duplicates included
  int64_t clips_without_predictions = 0;    // split clips absent from the file (counted empty)
};

// The retrieval script's iou(): intersection over the hull of both segments (not their union;
// equal when they overlap). Two zero-length segments at one point give 0/0 = NaN, never
// "> tIoU".
double retrieval_tiou(double pred_start, double pred_end, double gt_start, double gt_end);

// `ground_truth`: the split's clips in file order. Clips are scored on `threads` threads.
RetrievalResult evaluate_retrieval(const std::vector<const data::Clip*>& ground_truth,
                                   const PredictionList& predictions, int threads = 0);

}  // namespace asl::eval
