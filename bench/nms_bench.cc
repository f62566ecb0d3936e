// asl bench --what nms: the project's batched multi-class soft-NMS (infer/nms.h) against a
// plain reimplementation of the reference's (ego4d_asl / ActionFormer libs/utils/nms.py
// batched_nms with the softnms_1d_cpu loop of csrc/nms_cpu.cpp), on Ego4D-shaped candidate
// sets, in the same binary and the same run. Tensor-free.

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <ctime>
#include <nlohmann/json.hpp>
#include <random>
#include <string>
#include <vector>

#include "bench/bench.h"
#include "core/error.h"
#include "core/fs.h"
#include "core/progress.h"
#include "infer/nms.h"

namespace asl::bench {
namespace {

using infer::Segment;

// configs/ego4d_asl.yaml: max_seq_len 1024, ten pyramid levels with its regression ranges,
// 110 classes, and its test_cfg (pre_nms_thresh 0.001 by default, pre_nms_topk 5000,
// multiclass Gaussian soft-NMS, sigma 0.99, min_score 0.0001, max_seg_num 200).
constexpr int kSeqLen = 1024;
constexpr int kLevels = 10;
constexpr int kClasses = 110;
constexpr float kPreNmsThresh = 0.001f;
constexpr size_t kPreNmsTopk = 5000;
constexpr double kRangeHigh[kLevels] = {4, 8, 16, 32, 64, 128, 256, 512, 1024, 10000};
constexpr int kClips = 16;
constexpr int kActionsPerClip = 10;

infer::NmsOptions ego4d_nms_options() {
  infer::NmsOptions o;
  o.method = infer::NmsMethod::kSoft;
  o.sigma = 0.99f;
  o.min_score = 0.0001f;
  o.max_seg_num = 200;
  o.multiclass = true;
  return o;
}

}  // namespace

std::vector<infer::Segment> ego4d_shaped_candidates(std::mt19937_64& rng) {
  std::uniform_real_distribution<double> unit(0.0, 1.0);
  struct Action {
    double start, end;
    int label, confused[3];
  };
  std::vector<Action> actions(kActionsPerClip);
  for (auto& a : actions) {
    const double length = std::exp(std::log(2.0) + unit(rng) * (std::log(600.0) - std::log(2.0)));
    a.start = unit(rng) * (kSeqLen - length);
    a.end = a.start + length;
    a.label = static_cast<int>(unit(rng) * kClasses);
    for (int& c : a.confused) c = static_cast<int>(unit(rng) * kClasses);
  }
  std::vector<Segment> out;
  std::vector<Segment> level;
  std::normal_distribution<double> jitter(0.0, 1.0);
  for (int l = 0; l < kLevels; ++l) {
    const int stride = 1 << l;
    const double low = l == 0 ? 0 : kRangeHigh[l - 1] / 2, high = kRangeHigh[l];
    level.clear();
    for (int t = 0; t < kSeqLen / stride; ++t) {
      const double x = t * stride;
      // Background: every class gets a small score; offsets anywhere in the level's range.
      for (int c = 0; c < kClasses; ++c) {
        const float score = static_cast<float>(std::exp(std::log(1e-5) + unit(rng) * std::log(1e4)) * 0.5);
        if (!(score > kPreNmsThresh)) continue;
        const double left = (low + unit(rng) * (std::min(high, 2.0 * kSeqLen) - low)) / 2;
        const double right = (low + unit(rng) * (std::min(high, 2.0 * kSeqLen) - low)) / 2;
        level.push_back({static_cast<float>(x - left), static_cast<float>(x + right), score, c});
      }
      for (const Action& a : actions) {
        const double length = a.end - a.start;
        if (x < a.start || x > a.end || length > 2 * high || length < low / 2) continue;
        const double centrality = 1.0 - std::abs(x - (a.start + a.end) / 2) / (length / 2);
        const double peak = 0.3 + 0.6 * unit(rng);
        const double sd = 0.1 * length;
        const auto candidate = [&](int label, double score) {
          level.push_back({static_cast<float>(a.start + sd * jitter(rng)),
                           static_cast<float>(a.end + sd * jitter(rng)),
                           static_cast<float>(score), label});
        };
        candidate(a.label, peak * (0.2 + 0.8 * std::sqrt(std::max(0.0, centrality))));
        for (int c : a.confused) candidate(c, 0.2 * peak * unit(rng));
      }
    }
    const size_t keep = std::min(kPreNmsTopk, level.size());
    std::partial_sort(level.begin(), level.begin() + static_cast<std::ptrdiff_t>(keep), level.end(),
                      [](const Segment& a, const Segment& b) { return a.score > b.score; });
    out.insert(out.end(), level.begin(), level.begin() + static_cast<std::ptrdiff_t>(keep));
  }
  return out;
}

namespace {

// The reference, written as it is: nms.py's batched_nms (multiclass, soft) around the C++
// extension's softnms_1d_cpu, with the same copies (a gather per class, the extension's
// clones and parallel arrays, the dets buffer) and the same O(n^2) loops.
struct ReferenceOutput {
  std::vector<float> segs;  // [n, 2]
  std::vector<float> scores;
  std::vector<int64_t> cls;
};

// softnms_1d_cpu, method 2 (Gaussian): fills dets [n, 3], returns the kept inds.
std::vector<int64_t> softnms_1d_cpu(const std::vector<float>& segs, const std::vector<float>& scores,
                                    std::vector<float>& dets, float sigma, float min_score) {
  int64_t nsegs = static_cast<int64_t>(scores.size());
  if (nsegs == 0) return {};
  std::vector<float> x1(nsegs), x2(nsegs), sc = scores, areas(nsegs);
  for (int64_t k = 0; k < nsegs; ++k) {
    x1[k] = segs[2 * k];
    x2[k] = segs[2 * k + 1];
    areas[k] = x2[k] - x1[k] + 1e-6f;
  }
  std::vector<int64_t> inds(nsegs);
  for (int64_t k = 0; k < nsegs; ++k) inds[k] = k;
  float* de = dets.data();
  for (int64_t i = 0; i < nsegs; i++) {
    float max_score = sc[i];
    int64_t max_pos = i;
    int64_t pos = i + 1;
    while (pos < nsegs) {
      if (max_score < sc[pos]) {
        max_score = sc[pos];
        max_pos = pos;
      }
      pos = pos + 1;
    }
    const float ix1 = de[i * 3 + 0] = x1[max_pos];
    const float ix2 = de[i * 3 + 1] = x2[max_pos];
    const float iscore = de[i * 3 + 2] = sc[max_pos];
    const float iarea = areas[max_pos];
    const int64_t iind = inds[max_pos];
    x1[max_pos] = x1[i];
    x2[max_pos] = x2[i];
    sc[max_pos] = sc[i];
    areas[max_pos] = areas[i];
    inds[max_pos] = inds[i];
    x1[i] = ix1;
    x2[i] = ix2;
    sc[i] = iscore;
    areas[i] = iarea;
    inds[i] = iind;
    pos = i + 1;
    while (pos < nsegs) {
      const float xx1 = std::max(ix1, x1[pos]);
      const float xx2 = std::min(ix2, x2[pos]);
      const float inter = std::max(0.f, xx2 - xx1);
      const float ovr = inter / (iarea + areas[pos] - inter);
      const float weight = std::exp(-(ovr * ovr) / sigma);
      sc[pos] *= weight;
      if (sc[pos] < min_score) {
        x1[pos] = x1[nsegs - 1];
        x2[pos] = x2[nsegs - 1];
        sc[pos] = sc[nsegs - 1];
        areas[pos] = areas[nsegs - 1];
        inds[pos] = inds[nsegs - 1];
        nsegs = nsegs - 1;
        pos = pos - 1;
      }
      pos = pos + 1;
    }
  }
  inds.resize(nsegs);
  return inds;
}

ReferenceOutput reference_batched_nms(const std::vector<float>& segs, const std::vector<float>& scores,
                                      const std::vector<int64_t>& cls_idxs,
                                      const infer::NmsOptions& o) {
  // for class_id in torch.unique(cls_idxs) (sorted)
  std::vector<int64_t> classes = cls_idxs;
  std::sort(classes.begin(), classes.end());
  classes.erase(std::unique(classes.begin(), classes.end()), classes.end());
  ReferenceOutput merged;
  for (const int64_t class_id : classes) {
    // curr_indices = torch.where(cls_idxs == class_id)[0]; segs[curr_indices], ...
    std::vector<int64_t> curr;
    for (size_t k = 0; k < cls_idxs.size(); ++k)
      if (cls_idxs[k] == class_id) curr.push_back(static_cast<int64_t>(k));
    std::vector<float> c_segs, c_scores;
    std::vector<int64_t> c_cls;
    for (const int64_t k : curr) {
      c_segs.push_back(segs[2 * k]);
      c_segs.push_back(segs[2 * k + 1]);
      c_scores.push_back(scores[k]);
      c_cls.push_back(cls_idxs[k]);
    }
    // SoftNMSop.forward
    std::vector<float> dets(c_scores.size() * 3);
    const std::vector<int64_t> inds = softnms_1d_cpu(c_segs, c_scores, dets, o.sigma, o.min_score);
    const size_t n_segs = o.max_seg_num > 0 ? std::min(inds.size(), static_cast<size_t>(o.max_seg_num))
                                            : inds.size();
    for (size_t k = 0; k < n_segs; ++k) {
      merged.segs.push_back(dets[3 * k]);
      merged.segs.push_back(dets[3 * k + 1]);
      merged.scores.push_back(dets[3 * k + 2]);
      merged.cls.push_back(c_cls[inds[k]]);
    }
  }
  // _, idxs = new_scores.sort(descending=True); the first max_seg_num. (std::stable_sort
  // stands in for torch.sort; the project keeps tied scores in input order too.)
  std::vector<int64_t> idxs(merged.scores.size());
  for (size_t k = 0; k < idxs.size(); ++k) idxs[k] = static_cast<int64_t>(k);
  std::stable_sort(idxs.begin(), idxs.end(),
                   [&](int64_t a, int64_t b) { return merged.scores[a] > merged.scores[b]; });
  const size_t n = std::min(idxs.size(), static_cast<size_t>(o.max_seg_num));
  ReferenceOutput out;
  for (size_t k = 0; k < n; ++k) {
    out.segs.push_back(merged.segs[2 * idxs[k]]);
    out.segs.push_back(merged.segs[2 * idxs[k] + 1]);
    out.scores.push_back(merged.scores[idxs[k]]);
    out.cls.push_back(merged.cls[idxs[k]]);
  }
  return out;
}

// The reference's inputs: the tensors segs [n, 2], scores [n], cls_idxs [n].
struct ReferenceInput {
  std::vector<float> segs, scores;
  std::vector<int64_t> cls;
};

ReferenceInput as_tensors(const std::vector<Segment>& c) {
  ReferenceInput in;
  for (const Segment& s : c) {
    in.segs.push_back(s.start);
    in.segs.push_back(s.end);
    in.scores.push_back(s.score);
    in.cls.push_back(s.label);
  }
  return in;
}

// Same segments, scores and labels, in the same order, to 1e-6.
void check_same(const std::vector<Segment>& ours, const ReferenceOutput& ref, int clip) {
  const auto fail = [&](const std::string& what) {
    throw Error("bench --what nms", "clip " + std::to_string(clip) + ": " + what,
                "the project's soft-NMS no longer matches the reference's loop");
  };
  if (ours.size() != ref.scores.size()) {
    fail(std::to_string(ours.size()) + " detections against the reference's " +
         std::to_string(ref.scores.size()));
  }
  for (size_t k = 0; k < ours.size(); ++k) {
    const Segment& s = ours[k];
    if (std::abs(s.start - ref.segs[2 * k]) > 1e-6 || std::abs(s.end - ref.segs[2 * k + 1]) > 1e-6 ||
        std::abs(s.score - ref.scores[k]) > 1e-6 || s.label != ref.cls[k]) {
      fail("detection " + std::to_string(k) + " differs");
    }
  }
}

}  // namespace

std::string run_nms_bench(const Options& options) {
  const infer::NmsOptions nms = ego4d_nms_options();
  std::mt19937_64 rng(20261127);
  std::vector<std::vector<Segment>> clips;
  std::vector<ReferenceInput> tensors;
  size_t candidates = 0;
  for (int c = 0; c < kClips; ++c) {
    clips.push_back(ego4d_shaped_candidates(rng));
    tensors.push_back(as_tensors(clips.back()));
    candidates += clips.back().size();
  }

  // Correctness first, untimed (it also warms both paths up).
  size_t detections = 0;
  for (int c = 0; c < kClips; ++c) {
    const auto ours = infer::batched_nms(clips[c], nms);
    check_same(ours, reference_batched_nms(tensors[c].segs, tensors[c].scores, tensors[c].cls, nms), c);
    detections += ours.size();
  }

  std::vector<double> ours_s, ref_s;
  Progress progress("nms bench", options.repeat, "passes");
  for (int r = 0; r < options.repeat; ++r) {
    size_t sink = 0;
    auto t0 = std::chrono::steady_clock::now();
    for (const auto& clip : clips) sink += infer::batched_nms(clip, nms).size();
    ours_s.push_back(seconds_since(t0));
    t0 = std::chrono::steady_clock::now();
    for (const auto& in : tensors) sink += reference_batched_nms(in.segs, in.scores, in.cls, nms).scores.size();
    ref_s.push_back(seconds_since(t0));
    if (sink != 2 * detections) throw Error("bench --what nms", "results changed between passes");
    progress.advance();
  }
  progress.finish();

  const double ours = median(ours_s), ref = median(ref_s);
  const double n = static_cast<double>(candidates);
  char line[256];
  std::string text;
  std::snprintf(line, sizeof line,
                "nms benchmark: %d Ego4D-shaped clips, %.0f candidates per clip (%d levels, top %zu "
                "per level, %d classes), multiclass Gaussian soft-NMS (sigma %.2f, min_score %g, "
                "max_seg_num %lld); median of %d passes\n",
                kClips, n / kClips, kLevels, kPreNmsTopk, kClasses, nms.sigma, nms.min_score,
                static_cast<long long>(nms.max_seg_num), options.repeat);
  text += line;
  std::snprintf(line, sizeof line, "outputs checked equal (segments and scores to 1e-6, labels, order): "
                "%zu detections\n", detections);
  text += line;
  std::snprintf(line, sizeof line, "%-34s %10s %14s %10s\n", "implementation", "median s",
                "candidates/s", "vs ref");
  text += line;
  std::snprintf(line, sizeof line, "%-34s %10.4f %14.0f %9.2fx\n", "project (infer::batched_nms)",
                ours, n / ours, ref / ours);
  text += line;
  std::snprintf(line, sizeof line, "%-34s %10.4f %14.0f %9.2fx\n",
                "reference loop (nms.py + nms_cpu)", ref, n / ref, 1.0);
  text += line;
  std::fputs(text.c_str(), stdout);
  std::fflush(stdout);

  nlohmann::ordered_json j;
  j["benchmark"] = "nms";
  j["date"] = today();
  j["clips"] = kClips;
  j["candidates"] = candidates;
  j["detections"] = detections;
  j["repeat"] = options.repeat;
  j["nms"] = {{"method", "soft"}, {"sigma", nms.sigma}, {"min_score", nms.min_score},
              {"max_seg_num", nms.max_seg_num}, {"multiclass", true}};
  j["project"] = {{"median_s", ours}, {"seconds", ours_s}, {"candidates_per_s", n / ours}};
  j["reference"] = {{"median_s", ref}, {"seconds", ref_s}, {"candidates_per_s", n / ref}};
  j["speedup"] = ref / ours;
  const std::string json = j.dump(2) + "\n";
  if (!options.json_out.empty()) write_file_atomic(options.json_out, json);
  return json;
}

}  // namespace asl::bench
