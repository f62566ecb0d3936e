#include "kernels/batched_nms.h"

#include <algorithm>
#include <map>
#include <numeric>

namespace asl::kernels {

std::vector<std::vector<infer::Segment>> batched_nms_clips(
    const std::vector<std::vector<infer::Segment>>& clips, const infer::NmsOptions& o,
    const GroupNmsFn& run) {
  if (o.method == infer::NmsMethod::kNone) return clips;
  std::vector<std::vector<infer::Segment>> out(clips.size());
  if (!o.multiclass) {  // one group per clip, then score voting: left to infer
    for (size_t c = 0; c < clips.size(); ++c) out[c] = infer::batched_nms(clips[c], o);
    return out;
  }

  // Groups in the order infer::batched_nms visits them: clip by clip, ascending class ids,
  // candidates in input order. Hard NMS first drops scores <= min_score (when > 0).
  const bool filter = o.method == infer::NmsMethod::kHard && o.min_score > 0.f;
  SegmentGroups groups;
  std::vector<std::pair<size_t, int64_t>> owner;  // group -> (clip, label)
  for (size_t c = 0; c < clips.size(); ++c) {
    std::map<int64_t, std::vector<const infer::Segment*>> by_label;
    for (const infer::Segment& s : clips[c])
      if (!filter || s.score > o.min_score) by_label[s.label].push_back(&s);
    for (const auto& [label, segs] : by_label) {
      for (const infer::Segment* s : segs) {
        groups.start.push_back(s->start);
        groups.end.push_back(s->end);
        groups.score.push_back(s->score);
      }
      groups.offsets.push_back(groups.size());
      owner.emplace_back(c, label);
    }
  }
  if (groups.num_groups() == 0) return out;

  GroupNmsOptions go;
  go.method = o.method == infer::NmsMethod::kSoft ? GroupNmsMethod::kSoft : GroupNmsMethod::kHard;
  go.iou_threshold = o.iou_threshold;
  go.sigma = o.sigma;
  go.min_score = o.min_score;
  GroupNmsResult kept;
  run(groups, go, kept);

  // Per clip: each class's kept segments (at most max_seg_num), classes in ascending order,
  // then a stable sort by score and Python's [:min(max_seg_num, n)].
  for (int64_t g = 0; g < groups.num_groups(); ++g) {
    int64_t count = kept.count[g];
    if (o.max_seg_num > 0) count = std::min(count, o.max_seg_num);
    const auto [clip, label] = owner[g];
    for (int64_t k = 0; k < count; ++k) {
      const int64_t at = groups.offsets[g] + k;
      out[clip].push_back({kept.start[at], kept.end[at], kept.score[at], label});
    }
  }
  for (std::vector<infer::Segment>& m : out) {
    std::stable_sort(m.begin(), m.end(), [](const infer::Segment& a, const infer::Segment& b) {
      return a.score > b.score;
    });
    const int64_t n = static_cast<int64_t>(m.size());
    int64_t keep = std::min(o.max_seg_num, n);
    if (keep < 0) keep = std::max<int64_t>(0, n + keep);
    m.resize(keep);
  }
  return out;
}

}  // namespace asl::kernels
