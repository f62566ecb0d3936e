// Batched NMS of whole evaluation batches (kernels/batched_nms.h) on the CPU reference: the
// same detections as infer::batched_nms, clip by clip, on hidden-test-sized cases.
#include <gtest/gtest.h>

#include <random>
#include <vector>

#include "infer/nms.h"
#include "kernels/batched_nms.h"
#include "kernels/launch.h"

namespace asl::kernels {
namespace {

using infer::Segment;

// `n` candidates over `classes` classes, in grid units, with clustered duplicates so that
// suppression and score ties both happen.
std::vector<Segment> candidates(int n, int classes, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<float> pos(0, 900), len(1, 120), score(0, 1), jitter(-3, 3);
  std::uniform_int_distribution<int> label(0, classes - 1);
  std::vector<Segment> out;
  while (static_cast<int>(out.size()) < n) {
    Segment s;
    s.start = pos(rng);
    s.end = s.start + len(rng);
    s.score = score(rng);
    s.label = label(rng);
    out.push_back(s);
    if (out.size() % 7 == 0) out.push_back(s);  // an exact duplicate: a tie
    if (out.size() % 5 == 0) {                  // a near copy with a lower score
      Segment t = s;
      t.start += jitter(rng);
      t.end = t.start + (s.end - s.start);
      t.score = s.score * 0.9f;
      out.push_back(t);
    }
  }
  out.resize(n);
  return out;
}

void expect_same(const std::vector<Segment>& got, const std::vector<Segment>& want,
                 const std::string& what) {
  ASSERT_EQ(got.size(), want.size()) << what;
  for (size_t i = 0; i < got.size(); ++i) {
    EXPECT_EQ(got[i].start, want[i].start) << what << " #" << i;
    EXPECT_EQ(got[i].end, want[i].end) << what << " #" << i;
    EXPECT_EQ(got[i].score, want[i].score) << what << " #" << i;
    EXPECT_EQ(got[i].label, want[i].label) << what << " #" << i;
    if (::testing::Test::HasFailure()) return;
  }
}

infer::NmsOptions options(infer::NmsMethod method, float sigma, float min_score, int64_t cap) {
  infer::NmsOptions o;
  o.method = method;
  o.sigma = sigma;
  o.min_score = min_score;
  o.max_seg_num = cap;
  o.iou_threshold = 0.1f;
  return o;
}

TEST(GroupNms, SoftAndHardGiveInferBatchedNmsResultsOnHiddenSizedClips) {
  // 2,000 candidates over 110 classes per clip, as the hidden test split's pre_nms_topk
  // gives, and a few smaller clips; then settings where many segments decay away.
  std::vector<std::vector<Segment>> clips = {candidates(2000, 110, 1), candidates(2000, 110, 2),
                                             candidates(300, 5, 3), {}, candidates(1, 1, 4)};
  for (const auto& o : {options(infer::NmsMethod::kSoft, 0.5f, 0.001f, 2000),
                        options(infer::NmsMethod::kSoft, 0.05f, 0.2f, 100),
                        options(infer::NmsMethod::kSoft, 0.9f, 0.01f, -5),
                        options(infer::NmsMethod::kHard, 0.5f, 0.001f, 2000),
                        options(infer::NmsMethod::kHard, 0.5f, 0.3f, 50),
                        options(infer::NmsMethod::kNone, 0.5f, 0.001f, 2000)}) {
    const auto got = batched_nms_clips(clips, o, cpu::group_nms);
    ASSERT_EQ(got.size(), clips.size());
    for (size_t c = 0; c < clips.size(); ++c)
      expect_same(got[c], infer::batched_nms(clips[c], o),
                  "method " + std::to_string(static_cast<int>(o.method)) + " sigma " +
                      std::to_string(o.sigma) + " clip " + std::to_string(c));
  }
}

TEST(GroupNms, OneClassOfManyCandidatesWithHeavyDecay) {
  // One long group: many passes compact many dropped positions each.
  const std::vector<std::vector<Segment>> clips = {candidates(3000, 1, 9)};
  const auto o = options(infer::NmsMethod::kSoft, 0.02f, 0.3f, 5000);
  expect_same(batched_nms_clips(clips, o, cpu::group_nms)[0], infer::batched_nms(clips[0], o),
              "one class");
}

TEST(GroupNms, ClassAgnosticNmsIsLeftToInferWithVoting) {
  const std::vector<std::vector<Segment>> clips = {candidates(500, 10, 12)};
  auto o = options(infer::NmsMethod::kSoft, 0.5f, 0.001f, 200);
  o.multiclass = false;
  expect_same(batched_nms_clips(clips, o, cpu::group_nms)[0], infer::batched_nms(clips[0], o),
              "class-agnostic");
}

TEST(GroupNms, EmptyGroupsAndEmptyBatches) {
  SegmentGroups groups;
  groups.offsets = {0, 0, 0};
  GroupNmsResult result;
  cpu::group_nms(groups, {}, result);
  EXPECT_EQ(result.count, (std::vector<int64_t>{0, 0}));
  EXPECT_TRUE(batched_nms_clips({}, options(infer::NmsMethod::kSoft, 0.5f, 0.001f, 10),
                                cpu::group_nms)
                  .empty());
}

}  // namespace
}  // namespace asl::kernels
