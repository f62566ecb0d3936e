// asl pack: per-clip and per-video feature files -> store, values read back; bad inputs
// named in the error and leave no store behind.
#include <gtest/gtest.h>

#include "common/test_util.h"

#include <cmath>
#include <filesystem>
#include <set>
#include <string>
#include <vector>

#include "core/error.h"
#include "data/annotations.h"
#include "data/pack.h"
#include "data/store.h"

namespace asl::data {
namespace {

using asl::testing::error_of;

namespace fs = std::filesystem;

// A folder with annotations for three clips: c0 and c1 cut from video v0, c2 from v1.
// Feature rate 2 per second.
struct Fixture {
  std::string dir, annotations, out;

  explicit Fixture(const std::string& name) {
    dir = (fs::path(::testing::TempDir()) / ("asl_pack_" + name)).string();
    fs::remove_all(dir);
    fs::create_directories(dir + "/clipfeats");
    fs::create_directories(dir + "/videofeats");
    fs::create_directories(dir + "/store");
    annotations = dir + "/clips.json";
    out = dir + "/store/feats.h5";
    ClipAnnotations a;
    const struct {
      const char* id;
      const char* video;
      double start, end;
    } clips[] = {{"c0", "v0", 2.0, 6.0}, {"c1", "v0", 5.0, 9.0}, {"c2", "v1", 0.0, 3.0}};
    for (const auto& c : clips) {
      Clip clip;
      clip.clip_id = c.id;
      clip.video_id = c.video;
      clip.subset = "train";
      clip.parent_start_sec = c.start;
      clip.parent_end_sec = c.end;
      clip.duration = c.end - c.start;
      clip.v_duration = 10.0;
      clip.fps = 2.0;
      clip.annotations.push_back({0.5, 1.5, "cut", 0});
      a.clips.push_back(clip);
    }
    write_clip_annotations(a, annotations);
  }

  // v(t, d) = base + t + d / 4: exact in float32 (and in float16 below 512).
  static FeatureMatrix matrix(int64_t rows, int64_t cols, float base) {
    FeatureMatrix m(rows, cols);
    for (int64_t t = 0; t < rows; ++t) {
      for (int64_t d = 0; d < cols; ++d) m.at(t, d) = base + static_cast<float>(t) + d / 4.0f;
    }
    return m;
  }

  // Per-clip "egovlp" (3 dims, .npy), per-video "slowfast" (2 dims, .pt, 20 rows = 10 s).
  void write_features() const {
    write_npy(dir + "/clipfeats/c0.npy", matrix(8, 3, 100), DType::F32);
    write_npy(dir + "/clipfeats/c1.npy", matrix(8, 3, 200), DType::F16);
    write_pt(dir + "/clipfeats/c2.pt", matrix(6, 3, 300), DType::F32);
    write_pt(dir + "/videofeats/v0.pt", matrix(20, 2, 1000), DType::F32);
    write_npy(dir + "/videofeats/v1.npy", matrix(20, 2, 2000), DType::F32);
  }

  PackOptions options(DType dtype = DType::F32, int64_t shards = 1) const {
    PackOptions o;
    o.annotations = annotations;
    o.features = {parse_feature_spec("egovlp=" + dir + "/clipfeats"),
                  parse_feature_spec("slowfast=" + dir + "/videofeats:per-video")};
    o.out = out;
    o.dtype = dtype;
    o.shards = shards;
    return o;
  }

  bool store_folder_empty() const { return fs::is_empty(dir + "/store"); }
};

TEST(PackSpec, ParsesNameFolderAndLayout) {
  FeatureSourceSpec s = parse_feature_spec("egovlp=feats/egovlp");
  EXPECT_EQ(s.name, "egovlp");
  EXPECT_EQ(s.dir, "feats/egovlp");
  EXPECT_FALSE(s.per_video);
  s = parse_feature_spec("slowfast=a/b:per-video");
  EXPECT_EQ(s.dir, "a/b");
  EXPECT_TRUE(s.per_video);
  s = parse_feature_spec("x=odd:name:per-clip");
  EXPECT_EQ(s.dir, "odd:name");
  EXPECT_FALSE(s.per_video);
}

TEST(PackSpec, RejectsUnknownSyntax) {
  EXPECT_CONTAINS(error_of([] { parse_feature_spec("egovlp"); }),
                  "--feature egovlp: expected NAME=DIR[:per-clip|per-video]");
  EXPECT_CONTAINS(error_of([] { parse_feature_spec("=feats"); }),
                  "--feature =feats: the stream name '' must be");
  EXPECT_CONTAINS(error_of([] { parse_feature_spec("a b=feats"); }), "the stream name 'a b'");
  EXPECT_CONTAINS(error_of([] { parse_feature_spec("egovlp="); }), "--feature egovlp=: no folder");
  EXPECT_CONTAINS(error_of([] { parse_feature_spec("egovlp=feats:per-frame"); }),
                  "--feature egovlp=feats:per-frame: unknown file layout 'per-frame'");
}

TEST(Pack, Float32StoreHoldsTheFilesValuesAndCutsVideos) {
  Fixture f("f32");
  f.write_features();
  const PackReport report = pack_store(f.options());
  EXPECT_EQ(report.clips, 3);
  EXPECT_GT(report.bytes, 0);

  StoreReader r(f.out);
  EXPECT_EQ(r.clip_ids(), (std::vector<std::string>{"c0", "c1", "c2"}));
  ASSERT_EQ(r.info().streams.size(), 2u);
  EXPECT_EQ(r.info().streams[0].name, "egovlp");
  EXPECT_EQ(r.info().streams[0].dim, 3);
  EXPECT_EQ(r.info().streams[1].name, "slowfast");
  EXPECT_EQ(r.info().streams[1].dim, 2);
  EXPECT_EQ(r.info().dtype, DType::F32);

  EXPECT_EQ(r.read("c0", 0).values, Fixture::matrix(8, 3, 100).values);
  EXPECT_EQ(r.read("c2", 0).values, Fixture::matrix(6, 3, 300).values);
  // c0 spans [2, 6) s of v0 at 2 rows/s: rows [4, 12) -> 8 rows starting at 1000 + 4.
  const FeatureMatrix c0 = r.read("c0", 1);
  ASSERT_EQ(c0.rows, 8);
  EXPECT_EQ(c0.at(0, 0), 1004.0f);
  EXPECT_EQ(c0.at(7, 1), 1011.25f);
  // c1 spans [5, 9) s: rows [10, 18).
  const FeatureMatrix c1 = r.read("c1", 1);
  ASSERT_EQ(c1.rows, 8);
  EXPECT_EQ(c1.at(0, 0), 1010.0f);
  // c2 spans [0, 3) s of v1: rows [0, 6).
  const FeatureMatrix c2 = r.read("c2", 1);
  ASSERT_EQ(c2.rows, 6);
  EXPECT_EQ(c2.at(5, 1), 2005.25f);
}

TEST(Pack, Float16StoreHoldsHalfRoundedValues) {
  Fixture f("f16");
  f.write_features();
  FeatureMatrix odd(8, 3);
  for (size_t i = 0; i < odd.values.size(); ++i) odd.values[i] = 0.1f * static_cast<float>(i);
  write_npy(f.dir + "/clipfeats/c0.npy", odd, DType::F32);
  pack_store(f.options(DType::F16, 2));
  StoreReader r(f.out);
  EXPECT_EQ(r.info().dtype, DType::F16);
  EXPECT_EQ(r.info().num_shards, 2);
  const FeatureMatrix got = r.read("c0", 0);
  // Hand-worked binary16 values: 0.1 -> 0.0999755859375, 0.3 -> 0.300048828125,
  // 2.3 -> 2.30078125 (spacing 2^-9 between 2 and 4).
  EXPECT_EQ(got.values[1], 0.0999755859375f);
  EXPECT_EQ(got.values[3], 0.300048828125f);
  EXPECT_EQ(got.values[23], 2.30078125f);
  EXPECT_EQ(r.read("c1", 1).at(2, 0), 1012.0f);  // v0 row 12: representable, so exact
}

TEST(Pack, MissingFeatureFileIsNamed) {
  Fixture f("missing");
  f.write_features();
  fs::remove(f.dir + "/clipfeats/c1.npy");
  const std::string msg = error_of([&] { pack_store(f.options()); });
  EXPECT_CONTAINS(msg, "clip c1, stream egovlp: no feature file " + f.dir + "/clipfeats/c1.pt");
  EXPECT_TRUE(f.store_folder_empty());
}

TEST(Pack, MissingVideoFileIsNamed) {
  Fixture f("missingvideo");
  f.write_features();
  fs::remove(f.dir + "/videofeats/v1.npy");
  const std::string msg = error_of([&] { pack_store(f.options()); });
  EXPECT_CONTAINS(msg, "clip c2, stream slowfast: no feature file " + f.dir + "/videofeats/v1.pt");
  EXPECT_CONTAINS(msg, "video_id");
  EXPECT_TRUE(f.store_folder_empty());
}

TEST(Pack, WrongDimensionNamesClipStreamAndFile) {
  Fixture f("dim");
  f.write_features();
  write_pt(f.dir + "/clipfeats/c2.pt", Fixture::matrix(6, 4, 0), DType::F32);
  const std::string msg = error_of([&] { pack_store(f.options()); });
  EXPECT_CONTAINS(msg, f.dir + "/clipfeats/c2.pt: clip c2, stream egovlp: features have 4 "
                               "channels, expected 3 (as in clip c0)");
  EXPECT_TRUE(f.store_folder_empty());
}

TEST(Pack, NonFiniteValuesAreRejected) {
  Fixture f("nan");
  f.write_features();
  FeatureMatrix v = Fixture::matrix(20, 2, 0);
  v.at(3, 1) = std::nanf("");
  write_npy(f.dir + "/videofeats/v1.npy", v, DType::F32);
  const std::string msg = error_of([&] { pack_store(f.options(DType::F16, 3)); });
  EXPECT_CONTAINS(msg, f.dir + "/videofeats/v1.npy (video v1, stream slowfast)");
  EXPECT_CONTAINS(msg, "NaN at row 3, column 1");
  EXPECT_TRUE(f.store_folder_empty());
}

TEST(Pack, FailureKeepsAnExistingStore) {
  Fixture f("keep");
  f.write_features();
  pack_store(f.options());
  const auto before = fs::file_size(f.out);
  fs::remove(f.dir + "/clipfeats/c2.pt");
  EXPECT_CONTAINS(error_of([&] { pack_store(f.options()); }), "clip c2, stream egovlp");
  EXPECT_EQ(fs::file_size(f.out), before);
  EXPECT_EQ(StoreReader(f.out).clip_ids().size(), 3u);
  EXPECT_EQ(std::distance(fs::directory_iterator(f.dir + "/store"), fs::directory_iterator()), 1);
}

TEST(Pack, MissingFolderAndRepeatedStreamAreNamed) {
  Fixture f("folders");
  PackOptions o = f.options();
  o.features[1].dir = f.dir + "/nowhere";
  EXPECT_CONTAINS(error_of([&] { pack_store(o); }),
                  "--feature slowfast=" + f.dir + "/nowhere: the folder does not exist");
  o = f.options();
  o.features[1].name = "egovlp";
  EXPECT_CONTAINS(error_of([&] { pack_store(o); }), "--feature egovlp: stream given twice");
  EXPECT_TRUE(f.store_folder_empty());
}

}  // namespace
}  // namespace asl::data
