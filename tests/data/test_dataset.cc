// The dataset's pieces against the reference's behaviour on hand-worked cases. Expected
// values marked "reference" were computed once by running ego4d_asl's own code
// (libs/datasets/data_utils.py, NumPy/PyTorch 1.13) on the same inputs.
#include <gtest/gtest.h>

#include "common/test_util.h"
#include <torch/torch.h>

#include <cmath>

#include "core/error.h"
#include "data/dataset.h"
#include "dataset_fixtures.h"

namespace asl::data {
namespace {

using testing::FakeSource;

// Linear interpolation with align_corners=False, in double, written from its definition.
std::vector<double> resize_reference(const std::vector<double>& x, int64_t out) {
  const int64_t in = static_cast<int64_t>(x.size());
  std::vector<double> y(static_cast<size_t>(out));
  const double scale = static_cast<double>(in) / out;
  for (int64_t i = 0; i < out; ++i) {
    const double src = std::max((i + 0.5) * scale - 0.5, 0.0);
    const int64_t lo = std::min<int64_t>(static_cast<int64_t>(std::floor(src)), in - 1);
    const int64_t hi = std::min<int64_t>(lo + 1, in - 1);
    const double w = src - lo;
    y[static_cast<size_t>(i)] = (1 - w) * x[static_cast<size_t>(lo)] + w * x[static_cast<size_t>(hi)];
  }
  return y;
}

TEST(Resize, HandWorkedCases) {
  const at::Tensor x = torch::tensor({0.f, 1.f, 2.f, 3.f}).reshape({1, 4});
  const at::Tensor up = resize_linear(x, 8);
  const std::vector<float> up_expected = {0, 0.25, 0.75, 1.25, 1.75, 2.25, 2.75, 3};
  for (int i = 0; i < 8; ++i) EXPECT_FLOAT_EQ(up[0][i].item<float>(), up_expected[i]);
  const at::Tensor down = resize_linear(x, 2);
  EXPECT_FLOAT_EQ(down[0][0].item<float>(), 0.5f);
  EXPECT_FLOAT_EQ(down[0][1].item<float>(), 2.5f);
}

TEST(Resize, MatchesTheDefinitionInDouble) {
  torch::manual_seed(0);
  for (auto [in, out] : std::vector<std::pair<int64_t, int64_t>>{{7, 5}, {5, 11}, {900, 1024}, {480, 256}}) {
    const at::Tensor x = torch::randn({3, in});
    const at::Tensor y = resize_linear(x, out);
    ASSERT_EQ(y.sizes(), (std::vector<int64_t>{3, out}));
    for (int64_t c = 0; c < 3; ++c) {
      std::vector<double> row(static_cast<size_t>(in));
      for (int64_t t = 0; t < in; ++t) row[static_cast<size_t>(t)] = x[c][t].item<float>();
      const auto ref = resize_reference(row, out);
      for (int64_t t = 0; t < out; ++t) EXPECT_NEAR(y[c][t].item<float>(), ref[static_cast<size_t>(t)], 1e-5);
    }
  }
}

TEST(Grid, SecondsToGridInFloat32LikeTheReference) {
  // Baseline: 900 feature steps resized to 1024, fps from the annotations (reference).
  const double fps = 1.8741513727840071;
  const double stride = 900.0 / 1024.0;
  const at::Tensor g = seconds_to_grid({45.79368f, 47.67616f, 0.0f, 349.0f, 347.62496f, 349.0f},
                                       fps, stride, stride);
  const std::vector<double> reference = {97.14896392822266, 101.1631088256836, -0.5,
                                         743.6962890625,    740.7642822265625, 743.6962890625};
  for (int i = 0; i < 6; ++i) EXPECT_EQ(g.view(-1)[i].item<float>(), static_cast<float>(reference[i]));
  // And the formula itself, in double, to float32 accuracy.
  EXPECT_NEAR(g[0][0].item<float>(), (45.79368 * fps - 0.5 * stride) / stride, 1e-4);
}

TEST(TrainingFilter, HandWorkedCases) {
  at::Tensor segs = torch::tensor({-1.f, 2.f, 9.f, 12.f, 10.f, 11.f, 8.f, 20.f, 3.f, 3.f}).reshape({5, 2});
  at::Tensor labels = torch::tensor({0, 1, 2, 3, 4}, torch::kInt64);
  filter_training_segments(segs, labels, 10.0, 0.3);
  // [-1,2]: fully inside after clamping; [9,12]: 1/3 inside >= 0.3; [10,11]: starts at the
  // end; [8,20]: 2/12 inside; [3,3]: zero length (0/0 is NaN, fails the test).
  ASSERT_EQ(segs.size(0), 2);
  EXPECT_EQ(segs[0][0].item<float>(), 0.f);
  EXPECT_EQ(segs[0][1].item<float>(), 2.f);
  EXPECT_EQ(segs[1][0].item<float>(), 9.f);
  EXPECT_EQ(segs[1][1].item<float>(), 10.f);
  EXPECT_EQ(labels[0].item<int64_t>(), 0);
  EXPECT_EQ(labels[1].item<int64_t>(), 1);
}

VideoItem crop_item(int64_t channels, int64_t length, std::vector<float> segs, std::vector<int64_t> labels) {
  VideoItem item;
  item.feats = torch::arange(channels * length, torch::kFloat32).reshape({channels, length});
  const int64_t n = static_cast<int64_t>(labels.size());
  item.segments = torch::tensor(segs).reshape({n, 2});
  item.labels = torch::tensor(labels, torch::kInt64);
  return item;
}

TEST(Truncate, RandomCropMatchesTheReference) {
  struct Case {
    uint64_t seed;
    int64_t length;
    float first;
    std::vector<float> segments;
    std::vector<int64_t> labels;
  };
  // reference: random.seed(s); truncate_feats(d, 256, 0.3, [0.9, 1.0])
  const std::vector<Case> cases = {
      {0, 242, 12.f, {0, 18, 88, 108, 228, 242}, {1, 2, 3}},
      {7, 240, 4.f, {6, 26, 96, 116}, {1, 2}},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.seed);
    VideoItem item = crop_item(3, 256, {10, 30, 100, 120, 240, 256}, {1, 2, 3});
    PyRandom rng(c.seed);
    truncate_feats(item, 256, 0.3, config::Range{0.9, 1.0}, rng);
    EXPECT_EQ(item.feats.size(1), c.length);
    EXPECT_EQ(item.feats[0][0].item<float>(), c.first);
    ASSERT_EQ(item.segments.numel(), static_cast<int64_t>(c.segments.size()));
    for (size_t i = 0; i < c.segments.size(); ++i)
      EXPECT_EQ(item.segments.view(-1)[static_cast<int64_t>(i)].item<float>(), c.segments[i]);
    for (size_t i = 0; i < c.labels.size(); ++i)
      EXPECT_EQ(item.labels[static_cast<int64_t>(i)].item<int64_t>(), c.labels[i]);
  }
}

TEST(Truncate, LongInputIsCutToMaxSeqLenKeepingAnAction) {
  // reference: random.seed(3); truncate_feats(d, 20, 0.5, None) on 50 steps
  VideoItem item = crop_item(2, 50, {5, 15, 30, 34}, {0, 1});
  PyRandom rng(3);
  truncate_feats(item, 20, 0.5, std::nullopt, rng);
  EXPECT_EQ(item.feats.size(1), 20);
  EXPECT_EQ(item.feats[0][0].item<float>(), 7.f);
  ASSERT_EQ(item.segments.size(0), 1);
  EXPECT_EQ(item.segments[0][0].item<float>(), 0.f);
  EXPECT_EQ(item.segments[0][1].item<float>(), 8.f);
  EXPECT_EQ(item.labels[0].item<int64_t>(), 0);
}

TEST(Truncate, NoCropRatioAndShortInputChangesNothing) {
  VideoItem item = crop_item(1, 10, {1, 2}, {0});
  PyRandom rng(0);
  truncate_feats(item, 16, 0.3, std::nullopt, rng);
  EXPECT_EQ(item.feats.size(1), 10);
}

class DatasetTest : public ::testing::Test {
 protected:
  std::shared_ptr<ClipAnnotations> clips = testing::make_clips(8, 5.0, 2.0);
  std::shared_ptr<FakeSource> source = std::make_shared<FakeSource>(std::vector<int64_t>{3, 2}, 10);
};

TEST_F(DatasetTest, EvaluationItemResizesConcatenatesAndConvertsSegments) {
  const config::Config cfg = testing::small_config(16);
  Ego4dDataset ds(cfg, false, {"val"}, clips, source);
  ASSERT_EQ(ds.size(), 2);  // clips 3 and 7
  EXPECT_EQ(ds.clip(0).clip_id, "clip-3");
  PyRandom rng(0);
  const VideoItem item = ds.get(0, rng);
  ASSERT_EQ(item.feats.sizes(), (std::vector<int64_t>{5, 16}));
  // feat_stride = ((10 - 1) * 1 + 1) / 16 = num_frames.
  EXPECT_DOUBLE_EQ(item.feat_stride, 0.625);
  EXPECT_DOUBLE_EQ(item.feat_num_frames, 0.625);
  // Row 3 is stream 1, channel 0; step 0 of the resized stream: source index clamped to 0.
  EXPECT_FLOAT_EQ(item.feats[3][0].item<float>(), FakeSource::value(3, 1, 0, 0));
  // Step 15: source (15.5 * 10/16 - 0.5) = 9.1875 -> clamped to the last step 9.
  EXPECT_FLOAT_EQ(item.feats[0][15].item<float>(), FakeSource::value(3, 0, 9, 0));
  // Step 5: src = 5.5 * 0.625 - 0.5 = 2.9375 between steps 2 and 3.
  const float v2 = FakeSource::value(3, 0, 2, 1), v3 = FakeSource::value(3, 0, 3, 1);
  EXPECT_NEAR(item.feats[1][5].item<float>(), v2 + 0.9375f * (v3 - v2), 1e-2);
  // Segments: (sec * 2 - 0.3125) / 0.625 for [0.5, 2] and [2.5, 4.5] s.
  ASSERT_EQ(item.segments.size(0), 2);
  EXPECT_NEAR(item.segments[0][0].item<float>(), (0.5 * 2 - 0.3125) / 0.625, 1e-5);
  EXPECT_NEAR(item.segments[1][1].item<float>(), (4.5 * 2 - 0.3125) / 0.625, 1e-5);
  EXPECT_EQ(item.labels[1].item<int64_t>(), 1);  // clip 3 is odd: label "b"
}

TEST_F(DatasetTest, TrainingItemIsCroppedAndDeterministicForTheSeed) {
  const config::Config cfg = testing::small_config(16);
  Ego4dDataset ds(cfg, true, {"train"}, clips, source);
  EXPECT_EQ(ds.size(), 6);
  PyRandom a(42), b(42);
  const VideoItem x = ds.get(1, a), y = ds.get(1, b);
  EXPECT_TRUE(torch::equal(x.feats, y.feats));
  EXPECT_TRUE(torch::equal(x.segments, y.segments));
  // crop length in [round(0.9 * 16), 16] = [14, 16]
  EXPECT_GE(x.feats.size(1), 14);
  EXPECT_LE(x.feats.size(1), 16);
}

TEST_F(DatasetTest, VariableLengthFeaturesAreDownsampled) {
  config::Config cfg = config::load_config_text(
      "dataset: {num_classes: 3, input_dim: [3, 2], feat_stride: 4, num_frames: 8,"
      " max_seq_len: 16, downsample_rate: 2}\n"
      "model: {embd_dim: [256, 256], n_head: 4, backbone_arch: [1, 1, 2],"
      " regression_range: [[0, 4], [4, 8], [8, 1000]]}\n",
      "test config");
  Ego4dDataset ds(cfg, false, {"val"}, clips, source);
  PyRandom rng(0);
  const VideoItem item = ds.get(0, rng);
  ASSERT_EQ(item.feats.size(1), 5);  // steps 0, 2, 4, 6, 8
  EXPECT_EQ(item.feats[0][1].item<float>(), FakeSource::value(3, 0, 2, 0));
  EXPECT_DOUBLE_EQ(item.feat_stride, 8.0);
  EXPECT_DOUBLE_EQ(item.feat_num_frames, 8.0);
}

TEST_F(DatasetTest, WrongStreamWidthNamesClipAndStream) {
  auto wrong = std::make_shared<FakeSource>(std::vector<int64_t>{3, 4}, 10);
  const config::Config cfg = testing::small_config(16);
  Ego4dDataset ds(cfg, false, {"val"}, clips, wrong);
  PyRandom rng(0);
  try {
    ds.get(0, rng);
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_HAS(e.what(), "clip-3");
    EXPECT_HAS(e.what(), "4 channels");
    EXPECT_HAS(e.what(), "dataset.input_dim[1]");
  }
}

TEST_F(DatasetTest, EmptySplitAndBadLabelIdsAreErrors) {
  const config::Config cfg = testing::small_config(16);
  try {
    Ego4dDataset(cfg, true, {"test"}, clips, source);
    FAIL();
  } catch (const Error& e) {
    EXPECT_HAS(e.what(), "no clips in split [test]");
  }
  clips->clips[0].annotations[0].label_id = 7;
  clips->clips[0].annotations[0].label = "z";
  try {
    Ego4dDataset(cfg, true, {"train"}, clips, source);
    FAIL();
  } catch (const Error& e) {
    EXPECT_HAS(e.what(), "label 'z' has id 7");
  }
}

TEST_F(DatasetTest, DuplicateAnnotationsAreRemoved) {
  clips->clips[3].annotations.push_back(clips->clips[3].annotations[0]);
  clips->clips[3].annotations.back().end += 5e-4;  // within the reference's 1e-3 tolerance
  const config::Config cfg = testing::small_config(16);
  Ego4dDataset ds(cfg, false, {"val"}, clips, source);
  PyRandom rng(0);
  EXPECT_EQ(ds.get(0, rng).segments.size(0), 2);
}

TEST_F(DatasetTest, MemorySourceHoldsFloat16Copies) {
  std::vector<const Clip*> shard = {&clips->clips[3]};
  auto memory = make_memory_source(source, shard);
  const auto a = memory->read(clips->clips[3]);
  const auto b = source->read(clips->clips[3]);
  ASSERT_EQ(a.size(), b.size());
  for (size_t k = 0; k < a.size(); ++k) {
    for (size_t i = 0; i < a[k].values.size(); ++i) {
      EXPECT_EQ(a[k].values[i], half_to_float(float_to_half(b[k].values[i])));
    }
  }
}

}  // namespace
}  // namespace asl::data
