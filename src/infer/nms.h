// Non-maximum suppression of 1D segments, as the reference's batched_nms
// (ego4d_asl libs/utils/nms.py with its C++ extension csrc/nms_cpu.cpp) computes it.
// No tensors: segments are plain values in float32, the reference's arithmetic type, so
// results match it bit for bit except where the reference's unstable sort orders ties
// (here ties keep their input order; see docs/inference.md).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace asl::config {
struct TestConfig;
}

namespace asl::infer {

// One candidate or detection on the feature grid (or in seconds, after decoding).
struct Segment {
  float start = 0.f;
  float end = 0.f;
  float score = 0.f;
  int64_t label = 0;
};

enum class NmsMethod { kSoft, kHard, kNone };

struct NmsOptions {
  NmsMethod method = NmsMethod::kSoft;
  float iou_threshold = 0.1f;  // hard NMS only (the Gaussian soft-NMS ignores it)
  float sigma = 0.5f;          // soft NMS: weight = exp(-iou^2 / sigma)
  float min_score = 0.01f;
  int64_t max_seg_num = 1000;  // per class and in total
  bool multiclass = true;      // false: class-agnostic, then score voting
  float voting_thresh = 0.75f; // class-agnostic only; <= 0 disables voting
};

// From test_cfg; throws asl::Error naming test_cfg.nms_method if it is not soft|hard|none.
NmsOptions nms_options_from(const config::TestConfig& test);

// The reference's IoU: lengths get +1e-6 (in float32), intersection clamped at 0.
float segment_iou(float a_start, float a_end, float b_start, float b_end);

// nms_1d_cpu.nms: indices into `segs`, by descending score, of the segments that
// survive greedy suppression (a later one is dropped if iou >= iou_threshold).
std::vector<int64_t> hard_nms_indices(const std::vector<Segment>& segs, float iou_threshold);

// nms_1d_cpu.softnms with method 2 (Gaussian): the kept segments in emission order,
// with their decayed scores.
std::vector<Segment> gaussian_soft_nms(const std::vector<Segment>& segs, float sigma,
                                       float min_score);

// batched_nms followed by the caller's nms_method switch: `none` returns the input as is.
// Otherwise the result is sorted by score, descending, at most max_seg_num long.
std::vector<Segment> batched_nms(const std::vector<Segment>& segs, const NmsOptions& options);

}  // namespace asl::infer
