// NMS of a whole evaluation batch at once: every clip and class becomes one group of
// kernels/groups.h, all groups run in one call (the CPU reference, or one CUDA launch), and
// the kept segments are merged per clip as infer::batched_nms does, with the same results.
#pragma once

#include <functional>
#include <vector>

#include "infer/nms.h"
#include "kernels/groups.h"

namespace asl::kernels {

// Runs NMS on every group: cpu::group_nms, or a call of cuda::group_nms (kernels/launch.h).
using GroupNmsFn =
    std::function<void(const SegmentGroups&, const GroupNmsOptions&, GroupNmsResult&)>;

// One clip's candidates in, one clip's detections out (sorted by score, at most
// max_seg_num). Class-agnostic NMS (multiclass false, with score voting) is left to
// infer::batched_nms, clip by clip.
std::vector<std::vector<infer::Segment>> batched_nms_clips(
    const std::vector<std::vector<infer::Segment>>& clips, const infer::NmsOptions& options,
    const GroupNmsFn& run);

}  // namespace asl::kernels
