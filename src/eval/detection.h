// Detection mAP as the official Ego4D MQ evaluator computes it (ActivityNet's
// compute_average_precision_detection with interpolated precision; docs/evaluation.md).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "data/annotations.h"
#include "eval/predictions.h"

namespace asl::eval {

// The official thresholds (the MQ scripts' default --tIoU_thr).
inline const std::vector<double> kDetectionTious = {0.1, 0.2, 0.3, 0.4, 0.5};

struct DetectionResult {
  std::vector<double> tious;
  std::vector<std::string> classes;       // order of first appearance in the ground truth
  std::vector<std::vector<double>> ap;    // [tiou][class]
  std::vector<double> mAP;                // per tiou, mean over classes
  double average_mAP = 0;                 // mean over tious
  int64_t ground_truth = 0;               // entries, duplicates included
  int64_t predictions = 0;                // of labels present in the ground truth
  int64_t ignored_predictions = 0;        // of labels absent from the ground truth
};

// The detection tIoU of the official utils.segment_iou: intersection over the sum of both
// lengths minus the intersection. Two zero-length segments give 0/0 = NaN, which the official
// matching accepts at every threshold.
double detection_tiou(double pred_start, double pred_end, double gt_start, double gt_end);

// VOC 2011 interpolated AP of utils.interpolated_prec_rec.
double interpolated_ap(const std::vector<double>& precision, const std::vector<double>& recall);

// `ground_truth`: the split's clips in file order. Classes are computed on `threads` threads.
DetectionResult evaluate_detection(const std::vector<const data::Clip*>& ground_truth,
                                   const PredictionList& predictions,
                                   const std::vector<double>& tious = kDetectionTious,
                                   int threads = 0);

}  // namespace asl::eval
