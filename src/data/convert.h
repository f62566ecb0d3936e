// `asl convert`: official Ego4D MQ annotations (moments_*.json: videos -> clips ->
// annotators -> labels) and the ego4d.json video metadata -> the clip layout of
// annotations.h. Tensor-free.
#pragma once

#include <string>
#include <vector>

#include "data/annotations.h"

namespace asl::data {

struct ConvertOptions {
  std::vector<std::string> moments;  // moments_train.json, moments_val.json, ...
  std::string metadata;              // ego4d.json (video durations); optional
  std::string label_map;             // optional file: one label per line, id = line number
  double feature_fps = 1.875;        // features per second, written as each clip's fps
};

struct ConvertReport {
  ClipAnnotations annotations;
  int64_t dropped_unlabeled = 0;     // train/val clips without any primary label
  int64_t skipped_non_primary = 0;   // label entries with primary == false
};

// The built-in Ego4D MQ v1 label order (110 names); id = index.
const std::vector<std::string>& ego4d_mq_labels();

ConvertReport convert_official(const ConvertOptions& options);

}  // namespace asl::data
