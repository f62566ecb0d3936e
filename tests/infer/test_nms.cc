// NMS against hand-worked cases: the reference's Gaussian soft-NMS (exp(-iou^2/sigma),
// lengths + 1e-6), hard NMS, class-agnostic NMS with score voting, and nms_method none.
#include <gtest/gtest.h>

#include <cmath>

#include "core/config.h"
#include "core/error.h"
#include "infer/nms.h"

namespace asl::infer {
namespace {

NmsOptions soft(float sigma = 0.5f, float min_score = 0.001f, int64_t max_seg_num = 1000) {
  NmsOptions o;
  o.method = NmsMethod::kSoft;
  o.sigma = sigma;
  o.min_score = min_score;
  o.max_seg_num = max_seg_num;
  return o;
}

NmsOptions hard(float iou, float min_score = 0.01f, bool multiclass = true, float voting = 0.f) {
  NmsOptions o;
  o.method = NmsMethod::kHard;
  o.iou_threshold = iou;
  o.min_score = min_score;
  o.multiclass = multiclass;
  o.voting_thresh = voting;
  return o;
}

// The reference's IoU, worked in double: lengths padded by 1e-6.
double padded_iou(double s1, double e1, double s2, double e2) {
  const double inter = std::max(0.0, std::min(e1, e2) - std::max(s1, s2));
  return inter / ((e1 - s1 + 1e-6) + (e2 - s2 + 1e-6) - inter);
}

TEST(SegmentIou, PadsLengthsByOneMillionth) {
  EXPECT_NEAR(segment_iou(0, 10, 5, 15), padded_iou(0, 10, 5, 15), 1e-7);
  EXPECT_FLOAT_EQ(segment_iou(0, 1, 2, 3), 0.f);
  // A zero-length segment overlaps itself completely rather than dividing by zero.
  EXPECT_FLOAT_EQ(segment_iou(4, 4, 4, 4), 0.f);
}

TEST(SoftNms, DecaysAnOverlappingSegmentOfTheSameClassByExpMinusIouSquaredOverSigma) {
  const std::vector<Segment> in = {{0, 10, 0.9f, 0}, {5, 15, 0.8f, 0}};
  const auto out = batched_nms(in, soft(0.5f));
  ASSERT_EQ(out.size(), 2u);
  EXPECT_FLOAT_EQ(out[0].score, 0.9f);
  // iou = 5 / (10 + 10 - 5) = 1/3 (up to the 1e-6 padding); weight exp(-(1/9) / 0.5).
  const double iou = padded_iou(0, 10, 5, 15);
  EXPECT_NEAR(iou, 1.0 / 3.0, 1e-7);
  EXPECT_NEAR(out[1].score, 0.8 * std::exp(-iou * iou / 0.5), 1e-6);
  EXPECT_NEAR(out[1].score, 0.8 * std::exp(-2.0 / 9.0), 1e-6);  // not exp(-iou^2 / (2 sigma^2))
  EXPECT_EQ(out[1].start, 5.f);
  EXPECT_EQ(out[1].end, 15.f);
}

TEST(SoftNms, DifferentClassesDoNotInteract) {
  const std::vector<Segment> in = {{0, 10, 0.6f, 1}, {0, 10, 0.9f, 0}, {0, 10, 0.7f, 1}};
  const auto out = batched_nms(in, soft(0.5f));
  ASSERT_EQ(out.size(), 3u);
  EXPECT_EQ(out[0].label, 0);
  EXPECT_FLOAT_EQ(out[0].score, 0.9f);
  EXPECT_EQ(out[1].label, 1);
  EXPECT_FLOAT_EQ(out[1].score, 0.7f);
  // Same class, identical segment: iou ~ 1, weight exp(-1 / 0.5).
  EXPECT_NEAR(out[2].score, 0.6 * std::exp(-2.0), 1e-6);
}

TEST(SoftNms, RemovesSegmentsDecayedBelowMinScore) {
  // 0.05 * exp(-2) = 0.00677 < 0.01: removed. The disjoint 0.005 is below min_score too
  // and goes on its first (weight 1) comparison.
  const std::vector<Segment> in = {
      {0, 10, 0.9f, 0}, {0, 10, 0.05f, 0}, {20, 30, 0.005f, 0}, {40, 50, 0.3f, 0}};
  const auto out = batched_nms(in, soft(0.5f, 0.01f));
  ASSERT_EQ(out.size(), 2u);
  EXPECT_FLOAT_EQ(out[0].score, 0.9f);
  EXPECT_FLOAT_EQ(out[1].score, 0.3f);
}

TEST(SoftNms, TheFirstPickIsKeptEvenBelowMinScore) {
  // The extension only tests decayed scores, so the maximum itself is never removed.
  const auto out = batched_nms({{0, 1, 0.004f, 3}, {5, 6, 0.002f, 3}}, soft(0.5f, 0.01f));
  ASSERT_EQ(out.size(), 1u);
  EXPECT_FLOAT_EQ(out[0].score, 0.004f);
}

TEST(SoftNms, CapsEachClassAndThenTheTotalAtMaxSegNum) {
  const std::vector<Segment> in = {{0, 1, 0.5f, 0}, {2, 3, 0.4f, 0}, {4, 5, 0.3f, 0},
                                   {0, 1, 0.45f, 1}, {2, 3, 0.35f, 1}};
  const auto out = batched_nms(in, soft(0.5f, 0.001f, 3));
  // Class 0 keeps its 3, class 1 its 2; then the best 3 overall.
  ASSERT_EQ(out.size(), 3u);
  EXPECT_FLOAT_EQ(out[0].score, 0.5f);
  EXPECT_FLOAT_EQ(out[1].score, 0.45f);
  EXPECT_FLOAT_EQ(out[2].score, 0.4f);

  const auto two = batched_nms(in, soft(0.5f, 0.001f, 2));
  ASSERT_EQ(two.size(), 2u);
  EXPECT_FLOAT_EQ(two[1].score, 0.45f);
}

TEST(SoftNms, TiesGoToTheFirstInTheExtensionsCurrentOrder) {
  // A is picked; B (under A) decays below min_score and is replaced by the last one, D;
  // so the tie between C and D (disjoint, both 0.5) goes to D, not to C.
  const std::vector<Segment> in = {
      {0, 10, 0.9f, 0}, {0, 10, 0.001f, 0}, {20, 21, 0.5f, 0}, {30, 31, 0.5f, 0}};
  const auto out = batched_nms(in, soft(0.5f, 0.0005f));
  ASSERT_EQ(out.size(), 3u);
  EXPECT_EQ(out[1].start, 30.f);
  EXPECT_EQ(out[2].start, 20.f);
  // Without a removal, ties keep input order; across classes, ascending class order.
  const auto plain = batched_nms({{30, 31, 0.5f, 2}, {20, 21, 0.5f, 1}, {40, 41, 0.5f, 1}},
                                 soft(0.5f, 0.0005f));
  ASSERT_EQ(plain.size(), 3u);
  EXPECT_EQ(plain[0].start, 20.f);
  EXPECT_EQ(plain[1].start, 40.f);
  EXPECT_EQ(plain[2].start, 30.f);
}

TEST(HardNms, SuppressesAtOrAboveTheIouThresholdAndFiltersByMinScoreFirst) {
  const std::vector<Segment> in = {
      {0, 10, 0.9f, 0},    // kept
      {2, 12, 0.8f, 0},    // iou 8/12 with the first: suppressed
      {9, 19, 0.6f, 0},    // iou 1/19 with the first, 3/17 with the suppressed one: kept
      {40, 50, 0.01f, 0},  // not > min_score: dropped before NMS
      {2, 12, 0.7f, 1}};   // other class
  const auto out = batched_nms(in, hard(0.5f, 0.01f));
  ASSERT_EQ(out.size(), 3u);
  EXPECT_FLOAT_EQ(out[0].score, 0.9f);
  EXPECT_FLOAT_EQ(out[1].score, 0.7f);
  EXPECT_EQ(out[1].label, 1);
  EXPECT_FLOAT_EQ(out[2].score, 0.6f);  // scores are not changed by hard NMS

  // A suppressed segment suppresses nothing: at 0.15 the third would go if compared with
  // the second (3/17 = 0.176), but it is compared with the first only (1/19).
  const auto lower = batched_nms(in, hard(0.15f, 0.01f));
  EXPECT_EQ(lower.size(), 3u);
  EXPECT_EQ(hard_nms_indices({{0, 10, 0.9f, 0}, {0, 10, 0.8f, 0}}, 0.99f),
            std::vector<int64_t>({0}));  // iou 1 - tiny >= 0.99
}

TEST(ClassAgnosticNms, SuppressesAcrossClassesAndVotesSegmentsWithTheirNeighbours) {
  const std::vector<Segment> in = {{0, 10, 0.9f, 0}, {1, 11, 0.6f, 1}, {30, 40, 0.5f, 2}};
  const auto out = batched_nms(in, hard(0.5f, 0.01f, /*multiclass=*/false, /*voting=*/0.75f));
  ASSERT_EQ(out.size(), 2u);
  // Voting: neighbours with iou >= 0.75 (iou without padding here: 9/11), weight score*iou.
  const double w_self = 0.9, w_b = 0.6 * 9.0 / 11.0;
  EXPECT_NEAR(out[0].start, (w_self * 0 + w_b * 1) / (w_self + w_b), 1e-5);
  EXPECT_NEAR(out[0].end, (w_self * 10 + w_b * 11) / (w_self + w_b), 1e-5);
  EXPECT_FLOAT_EQ(out[0].score, 0.9f);
  EXPECT_EQ(out[0].label, 0);
  EXPECT_FLOAT_EQ(out[1].start, 30.f);
  EXPECT_FLOAT_EQ(out[1].end, 40.f);

  // voting_thresh 0 turns voting off.
  const auto plain = batched_nms(in, hard(0.5f, 0.01f, false, 0.f));
  ASSERT_EQ(plain.size(), 2u);
  EXPECT_EQ(plain[0].start, 0.f);
  EXPECT_EQ(plain[0].end, 10.f);
}

TEST(ClassAgnosticNms, VotingUsesCandidatesBelowMinScoreToo) {
  // The 0.005 candidate is filtered before NMS but still votes with its original score.
  const std::vector<Segment> in = {{0, 10, 0.9f, 0}, {0, 10, 0.005f, 1}};
  const auto out = batched_nms(in, hard(0.5f, 0.01f, false, 0.5f));
  ASSERT_EQ(out.size(), 1u);
  EXPECT_FLOAT_EQ(out[0].start, 0.f);
  EXPECT_FLOAT_EQ(out[0].end, 10.f);
}

TEST(Nms, MethodNoneReturnsTheCandidatesUnchanged) {
  NmsOptions o;
  o.method = NmsMethod::kNone;
  const std::vector<Segment> in = {{0, 10, 0.1f, 0}, {0, 10, 0.9f, 0}};
  const auto out = batched_nms(in, o);
  ASSERT_EQ(out.size(), 2u);
  EXPECT_FLOAT_EQ(out[0].score, 0.1f);
  EXPECT_TRUE(batched_nms({}, soft()).empty());
}

TEST(Nms, OptionsComeFromTestConfigAndAnUnknownMethodIsNamed) {
  config::TestConfig test;
  test.nms_method = "hard";
  test.iou_threshold = 0.3;
  test.multiclass_nms = false;
  const NmsOptions o = nms_options_from(test);
  EXPECT_EQ(o.method, NmsMethod::kHard);
  EXPECT_FLOAT_EQ(o.iou_threshold, 0.3f);
  EXPECT_FALSE(o.multiclass);
  test.nms_method = "gaussian";
  try {
    nms_options_from(test);
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("test_cfg.nms_method"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("gaussian"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace asl::infer
