// Query text features in the feature store (text/ group): round trips in f16 and f32, single
// file and sharded, refusals by the writer, checksums, damaged text groups, stores without
// text, inspect/verify, and asl pack --text-folder (C++ API and the binary).
#include <gtest/gtest.h>
#include <hdf5.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <set>
#include <string>
#include <tuple>
#include <vector>

#include "cli/run.h"
#include "common/test_util.h"
#include "core/error.h"
#include "data/annotations.h"
#include "data/half.h"
#include "data/pack.h"
#include "data/store.h"

namespace asl::data {
namespace {

using asl::testing::error_of;

namespace fs = std::filesystem;

std::string fresh_dir(const std::string& name) {
  return asl::testing::fresh_temp_dir("asl_store_text_" + name);
}

using asl::testing::listing;

// Distinct values, not all representable in float16: v(q, l, d) = q * 10 + l + d * 0.1 + 0.01.
FeatureMatrix tokens(int q, int64_t rows, int64_t cols = 4) {
  FeatureMatrix m(rows, cols);
  for (int64_t l = 0; l < rows; ++l) {
    for (int64_t d = 0; d < cols; ++d) {
      m.at(l, d) = static_cast<float>(q * 10 + l) + static_cast<float>(d) * 0.1f + 0.01f;
    }
  }
  return m;
}

FeatureMatrix clip_features(int c) {
  FeatureMatrix m(3 + c, 2);
  for (size_t i = 0; i < m.values.size(); ++i) m.values[i] = static_cast<float>(c * 100 + i);
  return m;
}

// Query keys as NLQ has them (<clip_uid>_<annotation_uid>_<query_idx>), in a pack order that
// is not sorted.
const std::vector<std::string> kKeys = {
    "f3a1c0de-0000-4000-8000-000000000001_9b0e2f11-aaaa-4bbb-8ccc-000000000001_2",
    "a0b1c2d3-1111-4222-8333-444455556666_0c0c0c0c-1111-4222-8333-444455556666_0",
    "f3a1c0de-0000-4000-8000-000000000001_9b0e2f11-aaaa-4bbb-8ccc-000000000001_0",
    "77777777-7777-4777-8777-777777777777_12345678-1234-4234-8234-123456789abc_5",
    "a0b1c2d3-1111-4222-8333-444455556666_0c0c0c0c-1111-4222-8333-444455556666_1",
};
int64_t length_of(int q) { return q == 3 ? 1 : 2 + q; }  // query 3: a sentence vector

void write_store_with_text(const std::string& path, DType dtype, int64_t shards,
                           int clips = 4) {
  StoreWriter w(path, {{"video", 2}}, dtype, "text test", shards);
  for (int c = 0; c < clips; ++c) w.write_clip("clip-" + std::to_string(c), {clip_features(c)});
  for (size_t q = 0; q < kKeys.size(); ++q) {
    w.write_text(kKeys[q], tokens(static_cast<int>(q), length_of(static_cast<int>(q))));
  }
  w.commit();
}

float stored(float v, DType dtype) {
  return dtype == DType::F16 ? half_to_float(float_to_half(v)) : v;
}

bool root_has_attr(const std::string& file, const char* name) {
  hid_t f = H5Fopen(file.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT);
  const bool has = H5Aexists(f, name) > 0;
  H5Fclose(f);
  return has;
}

bool has_link(const std::string& file, const char* name) {
  hid_t f = H5Fopen(file.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT);
  const bool has = H5Lexists(f, name, H5P_DEFAULT) > 0;
  H5Fclose(f);
  return has;
}

class StoreTextRoundTrip : public ::testing::TestWithParam<std::tuple<DType, int64_t>> {};

TEST_P(StoreTextRoundTrip, TextsReadBackInPackOrderBesideTheClips) {
  const auto [dtype, shards] = GetParam();
  const std::string dir = fresh_dir(std::string("rt_") + dtype_name(dtype) + "_" +
                                    std::to_string(shards));
  const std::string path = dir + "/feats.h5";
  write_store_with_text(path, dtype, shards);
  EXPECT_EQ(listing(dir).size(), shards == 1 ? 1u : static_cast<size_t>(shards) + 1);

  StoreReader r(path);
  EXPECT_EQ(r.info().text_dim, 4);
  EXPECT_EQ(r.info().num_texts, 5);
  EXPECT_EQ(r.info().num_clips, 4);
  EXPECT_EQ(r.clip_ids(), (std::vector<std::string>{"clip-0", "clip-1", "clip-2", "clip-3"}));
  EXPECT_EQ(r.text_keys(), kKeys);
  EXPECT_FALSE(r.has_clip("text"));
  for (const auto& key : kKeys) EXPECT_TRUE(r.has_text(key)) << key;
  EXPECT_FALSE(r.has_text("clip-0"));
  EXPECT_FALSE(r.has_text(kKeys[0] + "x"));

  for (size_t q = 0; q < kKeys.size(); ++q) {
    const FeatureMatrix want = tokens(static_cast<int>(q), length_of(static_cast<int>(q)));
    const FeatureMatrix got = r.read_text(kKeys[q]);
    ASSERT_EQ(got.rows, want.rows) << kKeys[q];
    ASSERT_EQ(got.cols, 4);
    EXPECT_EQ(r.text_rows(kKeys[q]), want.rows);
    for (size_t i = 0; i < want.values.size(); ++i) {
      EXPECT_EQ(got.values[i], stored(want.values[i], dtype)) << kKeys[q] << " value " << i;
    }
  }
  // Hand-worked: query 1, token 2, channel 3 is 10 + 2 + 0.3 + 0.01 = 12.31; float16 keeps
  // 12.3125 (spacing 2^-7 between 8 and 16).
  if (dtype == DType::F16) {
    EXPECT_EQ(r.read_text(kKeys[1]).at(2, 3), 12.3125f);
  } else {
    EXPECT_NEAR(r.read_text(kKeys[1]).at(2, 3), 12.31f, 1e-5f);
  }
  for (int c = 0; c < 4; ++c) {
    EXPECT_EQ(r.read("clip-" + std::to_string(c), 0).values, clip_features(c).values);
  }

  // Every store file has the text group and both attributes; the index lists the keys.
  const std::vector<std::string> files = r.files();
  for (size_t i = shards == 1 ? 0 : 1; i < files.size(); ++i) {
    EXPECT_TRUE(has_link(files[i], "text")) << files[i];
    EXPECT_TRUE(root_has_attr(files[i], "text_dim")) << files[i];
    EXPECT_TRUE(root_has_attr(files[i], "num_texts")) << files[i];
  }
  if (shards > 1) {
    EXPECT_TRUE(has_link(files[0], "text_keys"));
    EXPECT_TRUE(has_link(files[0], "text_shard"));
    EXPECT_FALSE(has_link(files[0], "text"));
  }
  const VerifyReport report = verify_store(path);
  EXPECT_TRUE(report.problems.empty());
  EXPECT_EQ(report.datasets, 4 + 5);
}

INSTANTIATE_TEST_SUITE_P(DtypesAndShards, StoreTextRoundTrip,
                         ::testing::Values(std::make_tuple(DType::F32, int64_t{1}),
                                           std::make_tuple(DType::F16, int64_t{1}),
                                           std::make_tuple(DType::F32, int64_t{3}),
                                           std::make_tuple(DType::F16, int64_t{3})));

TEST(StoreText, StoreWithoutTextReadsAsBefore) {
  const std::string dir = fresh_dir("none");
  const std::string path = dir + "/feats.h5";
  {
    StoreWriter w(path, {{"video", 2}}, DType::F16, "no text", 2);
    for (int c = 0; c < 3; ++c) w.write_clip("clip-" + std::to_string(c), {clip_features(c)});
    w.commit();
  }
  StoreReader r(path);
  EXPECT_EQ(r.info().text_dim, 0);
  EXPECT_EQ(r.info().num_texts, 0);
  EXPECT_TRUE(r.text_keys().empty());
  EXPECT_FALSE(r.has_text(kKeys[0]));
  const std::string msg = error_of([&] { r.read_text(kKeys[0]); });
  EXPECT_CONTAINS(msg, path + ", query text " + kKeys[0]);
  EXPECT_CONTAINS(msg, "no query text features");
  EXPECT_CONTAINS(msg, "pack the query text features with asl pack --text-folder");
  // Nothing of the text layout in any file: no attributes, no group, no index table.
  for (const auto& f : r.files()) {
    EXPECT_FALSE(root_has_attr(f, "text_dim")) << f;
    EXPECT_FALSE(root_has_attr(f, "num_texts")) << f;
    EXPECT_FALSE(has_link(f, "text")) << f;
    EXPECT_FALSE(has_link(f, "text_keys")) << f;
  }
  EXPECT_EQ(summarize_store(path).find("texts"), std::string::npos);
  EXPECT_EQ(verify_store(path).datasets, 3);
}

TEST(StoreText, MissingKeyNamesTheStoreAndKey) {
  const std::string path = fresh_dir("missingkey") + "/feats.h5";
  write_store_with_text(path, DType::F32, 1);
  StoreReader r(path);
  const std::string msg = error_of([&] { r.read_text("nope_0"); });
  EXPECT_CONTAINS(msg,
                  path + ", query text nope_0: query text is not in the store (5 query texts)");
  EXPECT_CONTAINS(msg, "asl pack --text-folder");
}

TEST(StoreText, WriterRejectsBadTexts) {
  const std::string dir = fresh_dir("bad");
  const std::string path = dir + "/feats.h5";
  std::string dim, nan, inf, twice, slash, dot, empty, no_rows, too_big;
  {
    StoreWriter w(path, {{"video", 2}}, DType::F16, "");
    w.write_clip("clip-0", {clip_features(0)});
    w.write_text("k0", tokens(0, 3));
    dim = error_of([&] { w.write_text("k1", tokens(1, 3, 5)); });
    FeatureMatrix bad = tokens(2, 3);
    bad.at(2, 1) = std::nanf("");
    nan = error_of([&] { w.write_text("k2", bad); });
    bad = tokens(2, 3);
    bad.at(0, 3) = -INFINITY;
    inf = error_of([&] { w.write_text("k2", bad); });
    twice = error_of([&] { w.write_text("k0", tokens(0, 3)); });
    slash = error_of([&] { w.write_text("a/b", tokens(0, 3)); });
    dot = error_of([&] { w.write_text(".", tokens(0, 3)); });
    empty = error_of([&] { w.write_text("", tokens(0, 3)); });
    no_rows = error_of([&] { w.write_text("k3", FeatureMatrix(0, 4)); });
    FeatureMatrix big = tokens(4, 1);
    big.at(0, 0) = 1e6f;
    too_big = error_of([&] { w.write_text("k4", big); });
  }  // destroyed without commit
  EXPECT_CONTAINS(dim, path + ", query text k1: text features have 5 channels, the store's text "
                              "features have 4 (as in query k0)");
  EXPECT_CONTAINS(nan, path + ", query text k2: NaN at t=2 d=1");
  EXPECT_CONTAINS(inf, path + ", query text k2: Inf at t=0 d=3");
  EXPECT_CONTAINS(twice, path + ", query text k0: query text written twice");
  EXPECT_CONTAINS(slash, "query key 'a/b' cannot name a dataset of the text group");
  EXPECT_CONTAINS(dot, "query key '.' cannot name a dataset of the text group");
  EXPECT_CONTAINS(empty, "query key '' cannot name");
  EXPECT_CONTAINS(no_rows, "query text k3: text features have no tokens");
  EXPECT_CONTAINS(too_big, "query text k4: value 1000000.000000 at t=0 d=0 does not fit float16");
  EXPECT_TRUE(listing(dir).empty());  // nothing visible without commit()
}

TEST(StoreText, AClipNamedTextAndTheTextGroupExcludeEachOther) {
  const std::string dir = fresh_dir("textclip");
  StoreWriter w(dir + "/a.h5", {{"video", 2}}, DType::F32, "");
  w.write_clip("text", {clip_features(0)});
  EXPECT_CONTAINS(error_of([&] { w.write_text("k", tokens(0, 2)); }),
                  "the store has a clip named 'text'");
  StoreWriter v(dir + "/b.h5", {{"video", 2}}, DType::F32, "");
  v.write_text("k", tokens(0, 2));
  EXPECT_CONTAINS(error_of([&] { v.write_clip("text", {clip_features(0)}); }),
                  "a clip cannot be named 'text' in a store with query text features");
}

TEST(StoreText, TextOnlyAfterClipsOrBeforeReadsTheSame) {
  // Texts written between clips: the root's creation order mixes them; clips still read in
  // their order and the text group is no clip.
  const std::string path = fresh_dir("interleaved") + "/feats.h5";
  {
    StoreWriter w(path, {{"video", 2}}, DType::F32, "");
    w.write_clip("clip-0", {clip_features(0)});
    w.write_text("k0", tokens(0, 2));
    w.write_clip("clip-1", {clip_features(1)});
    w.commit();
  }
  StoreReader r(path);
  EXPECT_EQ(r.clip_ids(), (std::vector<std::string>{"clip-0", "clip-1"}));
  EXPECT_EQ(r.text_keys(), std::vector<std::string>{"k0"});
}

// One bit flipped in a query's values after packing: reading it is one error naming the
// store and key; other texts and the clips still read; verify lists it.
TEST(StoreText, AFlippedBitInATextFailsTheChecksumNamingTheKey) {
  const std::string path = fresh_dir("flipped") + "/feats.h5";
  write_store_with_text(path, DType::F32, 1);
  const float target = tokens(2, length_of(2)).at(3, 2);  // 23.21: once in the file
  char needle[4];
  std::memcpy(needle, &target, 4);
  std::string bytes;
  {
    std::ifstream in(path, std::ios::binary);
    bytes.assign(std::istreambuf_iterator<char>(in), {});
  }
  const size_t at = bytes.find(std::string(needle, 4));
  ASSERT_NE(at, std::string::npos);
  ASSERT_EQ(bytes.find(std::string(needle, 4), at + 1), std::string::npos);
  bytes[at] = static_cast<char>(bytes[at] ^ 0x01);
  std::ofstream(path, std::ios::binary | std::ios::trunc) << bytes;

  StoreReader r(path);
  const std::string msg = error_of([&] { r.read_text(kKeys[2]); });
  EXPECT_CONTAINS(msg, path + ", query text " + kKeys[2]);
  EXPECT_CONTAINS(msg, "the text features fail their checksum (CRC-32C)");
  EXPECT_CONTAINS(msg, "asl pack");
  EXPECT_EQ(r.read_text(kKeys[1]).values, tokens(1, length_of(1)).values);
  EXPECT_EQ(r.read("clip-2", 0).values, clip_features(2).values);
  const VerifyReport report = verify_store(path);
  ASSERT_EQ(report.problems.size(), 1u);
  EXPECT_CONTAINS(report.problems[0], "query text " + kKeys[2] + ": the text features fail");
}

// Rewrites text/KEY of a committed single-file store by hand (rank 2 or 1, float32).
void damage_text(const std::string& path, const std::string& key, std::vector<hsize_t> dims,
                 float value) {
  hid_t f = H5Fopen(path.c_str(), H5F_ACC_RDWR, H5P_DEFAULT);
  const std::string name = "text/" + key;
  H5Ldelete(f, name.c_str(), H5P_DEFAULT);
  hid_t space = H5Screate_simple(static_cast<int>(dims.size()), dims.data(), nullptr);
  hid_t ds = H5Dcreate2(f, name.c_str(), H5T_IEEE_F32LE, space, H5P_DEFAULT, H5P_DEFAULT,
                        H5P_DEFAULT);
  size_t n = 1;
  for (const hsize_t d : dims) n *= d;
  std::vector<float> v(n, 1.0f);
  if (n > 1) v[1] = value;
  if (n > 0) H5Dwrite(ds, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, v.data());
  H5Dclose(ds);
  H5Sclose(space);
  H5Fclose(f);
}

TEST(StoreText, VerifyFindsBadTextsAndTheReaderNamesThem) {
  const std::string path = fresh_dir("verify") + "/feats.h5";
  write_store_with_text(path, DType::F32, 1);
  damage_text(path, kKeys[0], {2, 4}, std::nanf(""));  // no checksum: the NaN is read
  damage_text(path, kKeys[1], {3, 6}, 1.0f);
  damage_text(path, kKeys[2], {0, 4}, 1.0f);
  damage_text(path, kKeys[4], {4}, 1.0f);
  StoreReader r(path);
  EXPECT_CONTAINS(error_of([&] { r.read_text(kKeys[1]); }),
                  path + ", query text " + kKeys[1] +
                      ": the dataset is 3 x 6, the store's text dimension is 4");
  EXPECT_CONTAINS(error_of([&] { r.read_text(kKeys[2]); }), "the dataset has no tokens (0 x 4)");
  EXPECT_CONTAINS(error_of([&] { r.read_text(kKeys[4]); }),
                  "the dataset has 1 dimensions, expected 2 (L x D)");
  const VerifyReport report = verify_store(path);
  ASSERT_EQ(report.problems.size(), 4u);
  EXPECT_EQ(report.problems[0], "query text " + kKeys[0] + ": 1 NaN, 0 Inf, first at t=0 d=1");
  EXPECT_CONTAINS(report.problems[1], "query text " + kKeys[1] + ": the dataset is 3 x 6");
  EXPECT_CONTAINS(report.problems[2], "no tokens");
  EXPECT_CONTAINS(report.problems[3], "1 dimensions");
}

TEST(StoreText, DamagedTextGroupsAreRefusedOnOpening) {
  const std::string dir = fresh_dir("damaged");
  // The header says text, the group is gone.
  const std::string a = dir + "/a.h5";
  write_store_with_text(a, DType::F32, 1);
  {
    hid_t f = H5Fopen(a.c_str(), H5F_ACC_RDWR, H5P_DEFAULT);
    H5Ldelete(f, "text", H5P_DEFAULT);
    H5Fclose(f);
  }
  EXPECT_CONTAINS(error_of([&] { StoreReader r(a); }),
                  a + ": the header gives query text features (text_dim 4) but there is no text "
                      "group");
  // A query text removed: the count no longer matches.
  const std::string b = dir + "/b.h5";
  write_store_with_text(b, DType::F32, 1);
  {
    hid_t f = H5Fopen(b.c_str(), H5F_ACC_RDWR, H5P_DEFAULT);
    H5Ldelete(f, ("text/" + kKeys[3]).c_str(), H5P_DEFAULT);
    H5Fclose(f);
  }
  EXPECT_CONTAINS(error_of([&] { StoreReader r(b); }),
                  b + ": holds 4 query texts but its header says 5");
  // text is a dataset, not a group.
  const std::string c = dir + "/c.h5";
  write_store_with_text(c, DType::F32, 1);
  {
    hid_t f = H5Fopen(c.c_str(), H5F_ACC_RDWR, H5P_DEFAULT);
    H5Ldelete(f, "text", H5P_DEFAULT);
    const hsize_t dims[1] = {2};
    hid_t space = H5Screate_simple(1, dims, nullptr);
    hid_t ds = H5Dcreate2(f, "text", H5T_IEEE_F32LE, space, H5P_DEFAULT, H5P_DEFAULT,
                          H5P_DEFAULT);
    H5Dclose(ds);
    H5Sclose(space);
    H5Fclose(f);
  }
  EXPECT_CONTAINS(error_of([&] { StoreReader r(c); }), c + ", text group: is not a group");
  // One of the two text attributes without the other.
  const std::string d = dir + "/d.h5";
  write_store_with_text(d, DType::F32, 1);
  {
    hid_t f = H5Fopen(d.c_str(), H5F_ACC_RDWR, H5P_DEFAULT);
    H5Adelete(f, "num_texts");
    H5Fclose(f);
  }
  EXPECT_CONTAINS(error_of([&] { StoreReader r(d); }),
                  d + ": the store header has 'text_dim' without 'num_texts'");
  // A sharded store whose shard lost a query text.
  const std::string e = dir + "/sharded/e.h5";
  fs::create_directories(dir + "/sharded");
  write_store_with_text(e, DType::F16, 3);
  const std::vector<std::string> files = StoreReader(e).files();
  std::string victim;
  for (size_t i = 1; i < files.size() && victim.empty(); ++i) {
    hid_t f = H5Fopen(files[i].c_str(), H5F_ACC_RDWR, H5P_DEFAULT);
    for (const auto& key : kKeys) {
      if (H5Lexists(f, ("text/" + key).c_str(), H5P_DEFAULT) > 0) {
        H5Ldelete(f, ("text/" + key).c_str(), H5P_DEFAULT);
        victim = files[i];
        break;
      }
    }
    H5Fclose(f);
  }
  ASSERT_FALSE(victim.empty());
  EXPECT_CONTAINS(error_of([&] { StoreReader r(e); }), victim + ": holds ");
}

TEST(StoreText, SummaryAndVerifyMentionTheTexts) {
  const std::string path = fresh_dir("summary") + "/feats.h5";
  write_store_with_text(path, DType::F16, 2);
  const std::string s = summarize_store(path);
  // Lengths 2, 3, 4, 1, 6: median 3.
  EXPECT_CONTAINS(s, "texts      5 query keys, 4 dims, tokens per query min 1, median 3, max 6\n");
  const VerifyReport report = verify_store(path);
  EXPECT_EQ(report.clips, 4);
  EXPECT_EQ(report.datasets, 9);
  EXPECT_TRUE(report.problems.empty());

  // An even count: the median is the mean of the middle two.
  const std::string even = fresh_dir("summary_even") + "/feats.h5";
  {
    StoreWriter w(even, {{"video", 2}}, DType::F32, "");
    w.write_clip("clip-0", {clip_features(0)});
    w.write_text("k0", tokens(0, 1));
    w.write_text("k1", tokens(1, 2));
    w.write_text("k2", tokens(2, 5));
    w.write_text("k3", tokens(3, 9));
    w.commit();
  }
  EXPECT_CONTAINS(summarize_store(even),
                  "texts      4 query keys, 4 dims, tokens per query min 1, median 3.5, max 9\n");
}

// asl pack --text-folder: two clips with per-clip features, query text files beside them.
struct PackFixture {
  std::string dir, annotations, clipfeats, textfeats, out;

  explicit PackFixture(const std::string& name) {
    dir = fresh_dir("pack_" + name);
    clipfeats = dir + "/clipfeats";
    textfeats = dir + "/textfeats";
    fs::create_directories(clipfeats);
    fs::create_directories(textfeats);
    fs::create_directories(dir + "/store");
    annotations = dir + "/clips.json";
    out = dir + "/store/feats.h5";
    ClipAnnotations a;
    for (const char* id : {"c0", "c1"}) {
      Clip clip;
      clip.clip_id = id;
      clip.video_id = "v0";
      clip.subset = "train";
      clip.parent_start_sec = 0;
      clip.parent_end_sec = 4;
      clip.duration = 4;
      clip.v_duration = 10;
      clip.fps = 2;
      clip.annotations.push_back({0.5, 1.5, "cut", 0});
      a.clips.push_back(clip);
    }
    write_clip_annotations(a, annotations);
    write_npy(clipfeats + "/c0.npy", clip_features(0), DType::F32);
    write_pt(clipfeats + "/c1.pt", clip_features(1), DType::F32);
    write_npy(textfeats + "/qb_0.npy", tokens(1, 3), DType::F32);
    write_pt(textfeats + "/qa_1.pt", tokens(2, 1), DType::F16);
    std::ofstream(textfeats + "/README.txt") << "not a feature file";
    write_npy(textfeats + "/.hidden.npy", tokens(3, 2, 7), DType::F32);  // skipped
  }

  PackOptions options(DType dtype = DType::F32, int64_t shards = 1) const {
    PackOptions o;
    o.annotations = annotations;
    o.features = {parse_feature_spec("video=" + clipfeats)};
    o.out = out;
    o.dtype = dtype;
    o.shards = shards;
    o.text_folder = textfeats;
    return o;
  }

  bool store_folder_empty() const { return fs::is_empty(dir + "/store"); }
};

TEST(PackText, TextFolderGoesToTheTextGroupSortedByKey) {
  PackFixture f("ok");
  EXPECT_EQ(list_text_files(f.textfeats),
            (std::vector<std::pair<std::string, std::string>>{
                {"qa_1", f.textfeats + "/qa_1.pt"}, {"qb_0", f.textfeats + "/qb_0.npy"}}));
  for (const int64_t shards : {1, 3}) {
    const PackReport report = pack_store(f.options(DType::F32, shards));
    EXPECT_EQ(report.clips, 2);
    EXPECT_EQ(report.texts, 2);
    EXPECT_EQ(report.text_dim, 4);
    StoreReader r(f.out);
    EXPECT_EQ(r.text_keys(), (std::vector<std::string>{"qa_1", "qb_0"}));
    EXPECT_EQ(r.info().text_dim, 4);
    EXPECT_EQ(r.read_text("qb_0").values, tokens(1, 3).values);
    // Written as float16 in the .pt file: read back as those halves.
    const FeatureMatrix qa = r.read_text("qa_1");
    ASSERT_EQ(qa.rows, 1);
    for (int64_t d = 0; d < 4; ++d) {
      EXPECT_EQ(qa.at(0, d), stored(tokens(2, 1).at(0, d), DType::F16));
    }
    EXPECT_EQ(r.read("c1", 0).values, clip_features(1).values);
    EXPECT_CONTAINS(r.info().source, "query text features from " + f.textfeats);
  }
}

TEST(PackText, BadTextFilesStopThePackAndLeaveNoStore) {
  PackFixture f("bad");
  write_pt(f.textfeats + "/qb_0.pt", tokens(1, 3), DType::F32);  // qb_0 twice
  EXPECT_CONTAINS(error_of([&] { pack_store(f.options()); }),
                  "--text-folder " + f.textfeats + ": query qb_0 has two text feature files: " +
                      f.textfeats + "/qb_0.npy and " + f.textfeats + "/qb_0.pt");
  fs::remove(f.textfeats + "/qb_0.pt");

  write_npy(f.textfeats + "/qc_2.npy", tokens(4, 2, 5), DType::F32);
  EXPECT_CONTAINS(error_of([&] { pack_store(f.options(DType::F16, 3)); }),
                  f.textfeats + "/qc_2.npy: query qc_2: text features have 5 channels, expected "
                                "4 (as in query qa_1)");
  FeatureMatrix nan = tokens(4, 2);
  nan.at(1, 2) = std::nanf("");
  write_npy(f.textfeats + "/qc_2.npy", nan, DType::F32);
  const std::string msg = error_of([&] { pack_store(f.options()); });
  EXPECT_CONTAINS(msg, f.textfeats + "/qc_2.npy (query qc_2)");
  EXPECT_CONTAINS(msg, "NaN at row 1, column 2");
  EXPECT_TRUE(f.store_folder_empty());

  PackOptions o = f.options();
  o.text_folder = f.dir + "/nowhere";
  EXPECT_CONTAINS(error_of([&] { pack_store(o); }),
                  "--text-folder " + f.dir + "/nowhere: the folder does not exist");
  o.text_folder = f.dir + "/store";
  EXPECT_CONTAINS(error_of([&] { pack_store(o); }), "the folder has no query text features");
  EXPECT_TRUE(f.store_folder_empty());
}

TEST(PackText, ThroughTheBinaryWithInspect) {
  PackFixture f("binary");
  const auto packed = asl::testing::run_asl({"pack", "--annotations", f.annotations, "--feature",
                                             "video=" + f.clipfeats, "--out", f.out,
                                             "--text-folder", f.textfeats, "--shards", "2"});
  ASSERT_EQ(packed.code, 0) << packed.err;
  EXPECT_CONTAINS(packed.out, "packed 2 clips into " + f.out);
  EXPECT_CONTAINS(packed.out, "query texts: 2 (4 dims)");
  const auto inspected = asl::testing::run_asl({"inspect", f.out, "--verify"});
  ASSERT_EQ(inspected.code, 0) << inspected.err;
  EXPECT_CONTAINS(inspected.out,
                  "texts      2 query keys, 4 dims, tokens per query min 1, median 2, max 3");
  EXPECT_CONTAINS(inspected.out, "verified: 2 clips, 4 datasets");
  EXPECT_EQ(StoreReader(f.out).text_keys(), (std::vector<std::string>{"qa_1", "qb_0"}));
}

}  // namespace
}  // namespace asl::data
