// `asl convert`: official Ego4D MQ annotations (moments_*.json: videos -> clips ->
// annotators -> labels) and the ego4d.json video metadata -> the clip layout of
// annotations.h. Tensor-free.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "data/annotations.h"

namespace asl::data {

struct ConvertOptions {
  std::vector<std::string> moments;  // moments_train.json, moments_val.json, ...
  std::string metadata;              // ego4d.json (video durations); optional
  std::string label_map;             // optional file: one label per line, id = line index (from 0)
  double feature_fps = 1.875;        // features per second, written as each clip's fps
};

struct ConvertReport {
  ClipAnnotations annotations;
  int64_t dropped_unlabeled = 0;     // train/val clips without any primary label
  int64_t skipped_non_primary = 0;   // label entries with primary == false
  int64_t videos_without_metadata = 0;  // no metadata given: v_duration = last clip end
};

// The built-in Ego4D MQ v1 label order (110 names); id = index.
const std::vector<std::string>& ego4d_mq_labels();

// Reads a label map file: one name per line, id = line index (0-based); blank lines and
// repeated names are errors naming the file and line.
std::vector<std::string> read_label_map(const std::string& path);

// Converts; errors name the file, the clip and the key (missing or ill-typed fields, end
// before start, segments outside the clip, labels not in the map, videos not in the metadata).
ConvertReport convert_official(const ConvertOptions& options);

// convert_official, then writes the clip layout to `out` atomically: bad input leaves `out`
// as it was (absent or its old content).
ConvertReport convert_to_file(const ConvertOptions& options, const std::string& out);

// The command's summary: clips per subset, instances, classes, durations, dropped clips and
// skipped non-primary labels. A few lines.
std::string describe(const ConvertReport& report);

}  // namespace asl::data
