#include "infer/nms.h"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <set>

#include "core/config.h"
#include "core/error.h"

namespace asl::infer {
namespace {

// The reference sorts with torch's (unstable) sort; ties keep input order here.
std::vector<int64_t> order_by_score_descending(const std::vector<Segment>& segs) {
  std::vector<int64_t> order(segs.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(),
                   [&](int64_t a, int64_t b) { return segs[a].score > segs[b].score; });
  return order;
}

// Both extension functions compute `x2 - x1 + 1e-6` on float32 tensors.
float padded_length(float start, float end) { return (end - start) + 1e-6f; }

float overlap(float i_start, float i_end, float i_area, float j_start, float j_end,
              float j_area) {
  const float inter = std::max(0.f, std::min(i_end, j_end) - std::max(i_start, j_start));
  return inter / (i_area + j_area - inter);
}

// NMSop: drop scores <= min_score (when min_score > 0), suppress, cap.
std::vector<Segment> hard_nms(const std::vector<Segment>& segs, const NmsOptions& o) {
  std::vector<Segment> valid;
  for (const Segment& s : segs)
    if (!(o.min_score > 0.f) || s.score > o.min_score) valid.push_back(s);
  std::vector<int64_t> keep = hard_nms_indices(valid, o.iou_threshold);
  if (o.max_seg_num > 0 && static_cast<int64_t>(keep.size()) > o.max_seg_num)
    keep.resize(o.max_seg_num);
  std::vector<Segment> out;
  out.reserve(keep.size());
  for (int64_t k : keep) out.push_back(valid[k]);
  return out;
}

// SoftNMSop: Gaussian soft-NMS, then the first max_seg_num (when > 0).
std::vector<Segment> soft_nms(const std::vector<Segment>& segs, const NmsOptions& o) {
  std::vector<Segment> out = gaussian_soft_nms(segs, o.sigma, o.min_score);
  if (o.max_seg_num > 0 && static_cast<int64_t>(out.size()) > o.max_seg_num)
    out.resize(o.max_seg_num);
  return out;
}

std::vector<Segment> nms_one_group(const std::vector<Segment>& segs, const NmsOptions& o) {
  return o.method == NmsMethod::kSoft ? soft_nms(segs, o) : hard_nms(segs, o);
}

// seg_voting: each kept segment becomes the average of all candidates (before NMS)
// with iou >= voting_thresh, weighted by score * iou. The reference's iou here has no
// +1e-6, and its score offset (1.5) is computed but never used. Sums are taken in double
// (the reference's are float32 reductions / a matmul; the difference is round-off).
void vote(std::vector<Segment>& kept, const std::vector<Segment>& all, float thresh) {
  std::vector<float> weights(all.size());
  for (Segment& k : kept) {
    double total = 0.0;
    for (std::size_t j = 0; j < all.size(); ++j) {
      const Segment& a = all[j];
      const float inter = std::max(0.f, std::min(k.end, a.end) - std::max(k.start, a.start));
      const float iou = inter / ((k.end - k.start) + (a.end - a.start) - inter);
      weights[j] = (iou >= thresh ? 1.f : 0.f) * a.score * iou;
      total += weights[j];
    }
    const float norm = static_cast<float>(total);
    double start = 0.0, end = 0.0;
    for (std::size_t j = 0; j < all.size(); ++j) {
      const float w = weights[j] / norm;
      start += static_cast<double>(w) * all[j].start;
      end += static_cast<double>(w) * all[j].end;
    }
    k.start = static_cast<float>(start);
    k.end = static_cast<float>(end);
  }
}

}  // namespace

NmsOptions nms_options_from(const config::TestConfig& test) {
  NmsOptions o;
  if (test.nms_method == "soft") {
    o.method = NmsMethod::kSoft;
  } else if (test.nms_method == "hard") {
    o.method = NmsMethod::kHard;
  } else if (test.nms_method == "none") {
    o.method = NmsMethod::kNone;
  } else {
    throw Error("test_cfg.nms_method", "unknown method '" + test.nms_method + "'",
                "use soft, hard or none");
  }
  // The reference hands these to its extension (and compares tensors) as float32.
  o.iou_threshold = static_cast<float>(test.iou_threshold);
  o.sigma = static_cast<float>(test.nms_sigma);
  o.min_score = static_cast<float>(test.min_score);
  o.max_seg_num = test.max_seg_num;
  o.multiclass = test.multiclass_nms;
  o.voting_thresh = static_cast<float>(test.voting_thresh);
  return o;
}

float segment_iou(float a_start, float a_end, float b_start, float b_end) {
  return overlap(a_start, a_end, padded_length(a_start, a_end), b_start, b_end,
                 padded_length(b_start, b_end));
}

std::vector<int64_t> hard_nms_indices(const std::vector<Segment>& segs, float iou_threshold) {
  const std::vector<int64_t> order = order_by_score_descending(segs);
  const std::size_t n = segs.size();
  std::vector<float> area(n);
  for (std::size_t k = 0; k < n; ++k) area[k] = padded_length(segs[k].start, segs[k].end);
  // `selected` is indexed by rank, as in the extension.
  std::vector<bool> selected(n, true);
  for (std::size_t ri = 0; ri < n; ++ri) {
    if (!selected[ri]) continue;
    const Segment& si = segs[order[ri]];
    for (std::size_t rj = ri + 1; rj < n; ++rj) {
      if (!selected[rj]) continue;
      const int64_t j = order[rj];
      const float ovr =
          overlap(si.start, si.end, area[order[ri]], segs[j].start, segs[j].end, area[j]);
      if (ovr >= iou_threshold) selected[rj] = false;
    }
  }
  std::vector<int64_t> keep;
  for (std::size_t r = 0; r < n; ++r)
    if (selected[r]) keep.push_back(order[r]);
  return keep;
}

std::vector<Segment> gaussian_soft_nms(const std::vector<Segment>& segs, float sigma,
                                       float min_score) {
  // The extension works in place on parallel arrays; the order of the remaining
  // segments changes as it swaps, and ties for the maximum go to the first in that
  // current order, so the swaps are reproduced exactly.
  std::vector<Segment> work = segs;
  std::vector<float> area(work.size());
  for (std::size_t k = 0; k < work.size(); ++k)
    area[k] = padded_length(work[k].start, work[k].end);
  std::vector<Segment> out;
  int64_t n = static_cast<int64_t>(work.size());
  for (int64_t i = 0; i < n; ++i) {
    int64_t max_pos = i;
    for (int64_t pos = i + 1; pos < n; ++pos)
      if (work[max_pos].score < work[pos].score) max_pos = pos;
    std::swap(work[i], work[max_pos]);
    std::swap(area[i], area[max_pos]);
    const Segment top = work[i];
    out.push_back(top);
    for (int64_t pos = i + 1; pos < n; ++pos) {
      const float ovr = overlap(top.start, top.end, area[i], work[pos].start, work[pos].end,
                                area[pos]);
      const float weight = std::exp(-(ovr * ovr) / sigma);  // sigma, not 2 sigma^2
      work[pos].score *= weight;
      if (work[pos].score < min_score) {
        // Discard by moving the last one here; it is decayed on the next pass.
        work[pos] = work[n - 1];
        area[pos] = area[n - 1];
        --n;
        --pos;
      }
    }
  }
  return out;
}

std::vector<Segment> batched_nms(const std::vector<Segment>& segs, const NmsOptions& o) {
  if (o.method == NmsMethod::kNone || segs.empty()) return segs;

  std::vector<Segment> merged;
  if (o.multiclass) {
    // torch.unique: ascending class ids; candidates keep their order within a class.
    std::set<int64_t> labels;
    for (const Segment& s : segs) labels.insert(s.label);
    for (int64_t label : labels) {
      std::vector<Segment> group;
      for (const Segment& s : segs)
        if (s.label == label) group.push_back(s);
      std::vector<Segment> kept = nms_one_group(group, o);
      merged.insert(merged.end(), kept.begin(), kept.end());
    }
  } else {
    merged = nms_one_group(segs, o);
    if (o.voting_thresh > 0.f) vote(merged, segs, o.voting_thresh);
  }

  const std::vector<int64_t> order = order_by_score_descending(merged);
  // Python's idxs[:min(max_seg_num, n)], negative values included.
  const int64_t n = static_cast<int64_t>(merged.size());
  int64_t count = std::min(o.max_seg_num, n);
  if (count < 0) count = std::max<int64_t>(0, n + count);
  std::vector<Segment> out;
  out.reserve(count);
  for (int64_t r = 0; r < count; ++r) out.push_back(merged[order[r]]);
  return out;
}

}  // namespace asl::infer
