// Segments of many NMS groups (one clip and one class each) in one flat list, group g
// holding [offsets[g], offsets[g + 1]). The CPU reference and the CUDA kernels take this
// form; kernels/batched_nms.h builds it from a batch of clips.
#pragma once

#include <cstdint>
#include <vector>

namespace asl::kernels {

enum class GroupNmsMethod { kSoft, kHard };

struct GroupNmsOptions {
  GroupNmsMethod method = GroupNmsMethod::kSoft;
  float iou_threshold = 0.1f;  // hard
  float sigma = 0.5f;          // soft
  float min_score = 0.01f;     // soft: a decayed score below it is dropped
};

struct SegmentGroups {
  std::vector<float> start, end, score;
  std::vector<int64_t> offsets{0};  // num_groups + 1

  int64_t num_groups() const { return static_cast<int64_t>(offsets.size()) - 1; }
  int64_t size() const { return static_cast<int64_t>(score.size()); }
};

// What survives in each group, in emission order (soft: the order of selection, with the
// decayed scores; hard: descending score, ties in input order), stored at the group's own
// offsets: group g's kept segments are [offsets[g], offsets[g] + count[g]).
struct GroupNmsResult {
  std::vector<float> start, end, score;
  std::vector<int64_t> count;
};

}  // namespace asl::kernels
