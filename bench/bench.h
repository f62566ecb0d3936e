// What every benchmark of `asl bench` shares: the median of repeated timings, a stopwatch,
// the common options, and the tensor-free benchmarks' entry points. Each benchmark prints a
// table and returns its results as JSON text (written with --json).
#pragma once

#include <algorithm>
#include <chrono>
#include <ctime>
#include <random>
#include <string>
#include <vector>

#include "infer/nms.h"

namespace asl::bench {

// The median of repeated timings (the number every benchmark reports).
inline double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  if (n == 0) return 0;
  return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

// Today's date, YYYY-MM-DD, for the results JSON.
inline std::string today() {
  const std::time_t t = std::time(nullptr);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%d", std::localtime(&t));
  return buf;
}

inline double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

struct Options {
  int repeat = 5;
  std::string json_out;
};

// One Ego4D-shaped clip's candidates (1,024 steps, 10 levels, 110 classes) as decoding hands them to NMS: per level, the scores above
// pre_nms_thresh, the best pre_nms_topk by descending score, levels concatenated; segments
// on the input grid. Scores look like a trained model's: ~10 actions, each seen by the
// positions inside it on the levels whose range fits its length, with a score that falls
// off from its centre, boundaries with jitter and a few confused classes; elsewhere a
// background of small scores spread over four decades.
std::vector<infer::Segment> ego4d_shaped_candidates(std::mt19937_64& rng);

// --what nms: batched soft-NMS on Ego4D-shaped candidate sets (bench/nms_bench.cc).
std::string run_nms_bench(const Options& options);
// --what score: `asl score` against the official evaluator's measured time
// (bench/score_bench.cc).
std::string run_score_bench(const Options& options);

}  // namespace asl::bench
