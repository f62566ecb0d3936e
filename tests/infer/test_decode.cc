// Decoding a tiny hand-made NetworkOutputs: sigmoid * mask, the pre-NMS threshold, per-level
// top-k before the duration filter, grid-to-seconds conversion and clamping.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>

#include "core/config.h"
#include "core/error.h"
#include "infer/decode.h"

namespace asl::infer {
namespace {

const double kLn3 = std::log(3.0);  // sigmoid(ln 3) = 0.75, sigmoid(-ln 3) = 0.25

at::Tensor points(int64_t T, float stride) {
  auto p = torch::zeros({T, 4});
  for (int64_t t = 0; t < T; ++t) {
    p[t][0] = t * stride;
    p[t][3] = stride;
  }
  return p;
}

// Level 0 (stride 1, T=3, C=2) and level 1 (stride 2, T=2).
model::NetworkOutputs tiny_outputs() {
  model::NetworkOutputs o;
  // t0: 0.5, ~0; t1: 0.75, 0.25; t2 masked out.
  o.cls_logits.push_back(torch::tensor({0.0, -10.0, kLn3, -kLn3, 5.0, 5.0}).view({1, 3, 2}));
  o.offsets.push_back(torch::tensor({2.f, 2.f, 0.5f, 0.5f, 1.f, 1.f}).view({1, 3, 2}));
  o.masks.push_back(torch::tensor({true, true, false}).view({1, 3}));
  o.points.push_back(points(3, 1));
  // t0: 0.75 but 0.04 long (dropped by duration_thresh); t1: 0.5, [2 - 2, 2 + 2].
  o.cls_logits.push_back(torch::tensor({kLn3, -10.0, 0.0, -10.0}).view({1, 2, 2}));
  o.offsets.push_back(torch::tensor({0.01f, 0.01f, 1.f, 1.f}).view({1, 2, 2}));
  o.masks.push_back(torch::tensor({true, true}).view({1, 2}));
  o.points.push_back(points(2, 2));
  for (auto& t : o.cls_logits) t = t.to(torch::kFloat32);
  return o;
}

config::TestConfig test_config() {
  config::TestConfig test;
  test.pre_nms_thresh = 0.001;
  test.pre_nms_topk = 2;
  test.duration_thresh = 0.05;
  return test;
}

TEST(Decode, ThresholdsTakesTopKPerLevelThenFiltersByDuration) {
  const auto segs = decode_candidates(tiny_outputs(), test_config());
  // Level 0: 0.75 (t1) and 0.5 (t0) make the top 2; 0.25 does not; ~4.5e-5 is under the
  // threshold; masked t2 has probability 0. Level 1: both in the top 2, t0 too short.
  ASSERT_EQ(segs.size(), 3u);
  EXPECT_FLOAT_EQ(segs[0].score, 0.75f);
  EXPECT_EQ(segs[0].label, 0);
  EXPECT_FLOAT_EQ(segs[0].start, 0.5f);
  EXPECT_FLOAT_EQ(segs[0].end, 1.5f);
  EXPECT_FLOAT_EQ(segs[1].score, 0.5f);
  EXPECT_FLOAT_EQ(segs[1].start, -2.f);
  EXPECT_FLOAT_EQ(segs[1].end, 2.f);
  EXPECT_FLOAT_EQ(segs[2].score, 0.5f);
  EXPECT_FLOAT_EQ(segs[2].start, 0.f);  // offsets are in units of the level's stride
  EXPECT_FLOAT_EQ(segs[2].end, 4.f);

  auto wide = test_config();
  wide.pre_nms_topk = 5000;
  const auto all = decode_candidates(tiny_outputs(), wide);
  ASSERT_EQ(all.size(), 4u);  // + 0.25 of class 1 at level 0
  EXPECT_FLOAT_EQ(all[2].score, 0.25f);
  EXPECT_EQ(all[2].label, 1);
}

TEST(Decode, ConvertsGridUnitsToSecondsAndClampsToTheClip) {
  std::vector<Segment> segs = {{0.5f, 1.5f, 1, 0}, {-2.f, 4.f, 1, 0}};
  grid_to_seconds(segs, ClipTiming{30.0, 2.0, 16.0, 32.0});
  EXPECT_NEAR(segs[0].start, (0.5 * 16 + 16) / 30, 1e-6);
  EXPECT_NEAR(segs[0].end, (1.5 * 16 + 16) / 30, 1e-6);
  EXPECT_EQ(segs[1].start, 0.f);  // (-32 + 16) / 30 < 0
  EXPECT_EQ(segs[1].end, 2.f);    // 80 / 30 > duration
}

TEST(Decode, DetectRunsSoftNmsAndReturnsSeconds) {
  auto test = test_config();
  test.nms_method = "soft";
  test.nms_sigma = 0.5;
  test.min_score = 0.001;
  const auto det = detect(tiny_outputs(), ClipTiming{30.0, 2.0, 16.0, 32.0}, test);
  ASSERT_EQ(det.size(), 3u);
  // A = [0.5, 1.5] 0.75 first; B = [-2, 2] and C = [0, 4] both have iou 1/4 with A and
  // tie at 0.5 exp(-1/16 / 0.5); B is first; then C decays again by iou(B, C) = 2/6.
  const double after_a = 0.5 * std::exp(-(0.25 * 0.25) / 0.5);
  EXPECT_FLOAT_EQ(det[0].score, 0.75f);
  EXPECT_NEAR(det[1].score, after_a, 1e-6);
  EXPECT_NEAR(det[2].score, after_a * std::exp(-(1.0 / 9.0) / 0.5), 1e-6);
  EXPECT_NEAR(det[0].start, 0.8, 1e-6);
  EXPECT_NEAR(det[0].end, 40.0 / 30.0, 1e-6);
  EXPECT_EQ(det[1].start, 0.f);
  EXPECT_NEAR(det[1].end, 1.6, 1e-6);
  EXPECT_NEAR(det[2].start, 16.0 / 30.0, 1e-6);
  EXPECT_EQ(det[2].end, 2.f);

  test.nms_method = "none";  // candidates in decoding order, converted
  const auto raw = detect(tiny_outputs(), ClipTiming{30.0, 2.0, 16.0, 32.0}, test);
  ASSERT_EQ(raw.size(), 3u);
  EXPECT_FLOAT_EQ(raw[2].score, 0.5f);
}

TEST(Decode, RejectsABatchOfMoreThanOneClip) {
  auto o = tiny_outputs();
  o.cls_logits[0] = torch::zeros({2, 3, 2});
  try {
    decode_candidates(o, test_config());
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("batch size 1"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("level 0"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace asl::infer
