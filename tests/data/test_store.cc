// The HDF5 feature store: round trips (f32 exact, f16 rounded), sharding, atomic writes,
// refusal of damaged or foreign files with clear errors, thread safety, verify/summarize.
#include <gtest/gtest.h>

#include "common/test_util.h"
#include <hdf5.h>
#include <sys/resource.h>

#include <csignal>
#include <cstdio>
#include <cstdlib>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "core/error.h"
#include "data/half_batch.h"
#include "data/half.h"
#include "data/store.h"

namespace asl::data {
namespace {

using asl::testing::error_of;

namespace fs = std::filesystem;

std::string fresh_dir(const std::string& name) {
  return asl::testing::fresh_temp_dir("asl_store_" + name);
}

using asl::testing::listing;

// Distinct, exactly representable values: v(c, s, t, d) = c*1000 + s*100 + t + d/8.
FeatureMatrix pattern(int c, int s, int64_t rows, int64_t cols) {
  FeatureMatrix m(rows, cols);
  for (int64_t t = 0; t < rows; ++t) {
    for (int64_t d = 0; d < cols; ++d) {
      m.at(t, d) = static_cast<float>(c * 1000 + s * 100) + static_cast<float>(t) +
                   static_cast<float>(d) / 8.0f;
    }
  }
  return m;
}

const std::vector<StreamInfo> kStreams = {{"slowfast", 3}, {"omnivore", 5}};

std::vector<FeatureMatrix> clip_features(int c) {
  return {pattern(c, 0, 4 + c, 3), pattern(c, 1, 2 + c, 5)};
}

std::string clip_name(int c) { return "clip-" + std::to_string(c); }

void write_store(const std::string& path, int clips, DType dtype, int64_t shards) {
  StoreWriter w(path, kStreams, dtype, "unit test", shards);
  for (int c = 0; c < clips; ++c) w.write_clip(clip_name(c), clip_features(c));
  w.commit();
}

TEST(Store, Float32RoundTripIsExact) {
  const std::string dir = fresh_dir("f32");
  const std::string path = dir + "/feats.h5";
  write_store(path, 3, DType::F32, 1);
  EXPECT_EQ(listing(dir), std::set<std::string>{"feats.h5"});

  StoreReader r(path);
  const StoreInfo& info = r.info();
  EXPECT_EQ(info.format, "ego4d-asl-feature-store");
  EXPECT_EQ(info.version, 1);
  EXPECT_EQ(info.dtype, DType::F32);
  EXPECT_EQ(info.source, "unit test");
  EXPECT_EQ(info.num_clips, 3);
  EXPECT_EQ(info.num_shards, 1);
  ASSERT_EQ(info.streams.size(), 2u);
  EXPECT_EQ(info.streams[1].name, "omnivore");
  EXPECT_EQ(info.streams[1].dim, 5);
  EXPECT_EQ(r.clip_ids(), (std::vector<std::string>{"clip-0", "clip-1", "clip-2"}));
  EXPECT_TRUE(r.has_clip("clip-2"));
  EXPECT_FALSE(r.has_clip("clip-3"));
  EXPECT_EQ(r.stream_index("omnivore"), 1);
  EXPECT_EQ(r.rows("clip-2", 0), 6);
  EXPECT_EQ(r.rows("clip-2", 1), 4);
  EXPECT_EQ(r.files(), std::vector<std::string>{path});

  for (int c = 0; c < 3; ++c) {
    const auto got = r.read_clip(clip_name(c));
    const auto want = clip_features(c);
    ASSERT_EQ(got.size(), 2u);
    for (size_t s = 0; s < 2; ++s) {
      EXPECT_EQ(got[s].rows, want[s].rows);
      EXPECT_EQ(got[s].cols, want[s].cols);
      EXPECT_EQ(got[s].values, want[s].values);
    }
  }
  // Hand-worked: clip 2, stream 1 (omnivore), t=3, d=4 is 2000 + 100 + 3 + 0.5.
  EXPECT_EQ(r.read("clip-2", 1).at(3, 4), 2103.5f);
}

TEST(Store, Float16StoresHalfRoundedValues) {
  const std::string path = fresh_dir("f16") + "/feats.h5";
  FeatureMatrix m(2, 4);
  // Hand-worked binary16 roundings: 0.1 -> 1638/16384, 1/3 -> 1365/4096,
  // 1e-7 -> 2 * 2^-24 (subnormal), 65504 is the largest half, -2.5 and 1 are exact.
  const float in[8] = {0.1f, 1.0f / 3.0f, 1e-7f, 65504.0f, -2.5f, 1.0f, 0.0f, 2049.0f};
  const float want[8] = {0.0999755859375f, 0.333251953125f, 1.1920928955078125e-07f, 65504.0f,
                         -2.5f, 1.0f, 0.0f, 2048.0f};  // 2049 is a tie: rounds to even 2048
  std::copy(in, in + 8, m.values.begin());
  {
    StoreWriter w(path, {{"a", 4}}, DType::F16, "half test");
    w.write_clip("c", {m});
    w.commit();
  }
  StoreReader r(path);
  EXPECT_EQ(r.info().dtype, DType::F16);
  const FeatureMatrix got = r.read("c", 0);
  for (int i = 0; i < 8; ++i) EXPECT_EQ(got.values[i], want[i]) << "value " << i;

  // The file holds the IEEE half type h5py uses for numpy.float16.
  hid_t file = H5Fopen(path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT);
  ASSERT_GE(file, 0);
  hid_t ds = H5Dopen2(file, "c/a", H5P_DEFAULT);
  hid_t type = H5Dget_type(ds);
  size_t spos, epos, esize, mpos, msize;
  H5Tget_fields(type, &spos, &epos, &esize, &mpos, &msize);
  EXPECT_EQ(H5Tget_class(type), H5T_FLOAT);
  EXPECT_EQ(H5Tget_size(type), 2u);
  EXPECT_EQ(H5Tget_order(type), H5T_ORDER_LE);
  EXPECT_EQ(H5Tget_ebias(type), 15u);
  EXPECT_EQ((std::vector<size_t>{spos, epos, esize, mpos, msize}),
            (std::vector<size_t>{15, 10, 5, 0, 10}));
  // HDF5's own conversion of that type to float agrees with the fast path.
  std::vector<float> soft(8);
  ASSERT_GE(H5Dread(ds, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, soft.data()), 0);
  EXPECT_EQ(soft, got.values);
  H5Tclose(type);
  H5Dclose(ds);
  H5Fclose(file);
}

TEST(Store, F16RejectsValuesBeyondHalfRange) {
  const std::string dir = fresh_dir("f16range");
  FeatureMatrix m(1, 2);
  m.values = {1.0f, 70000.0f};
  const std::string msg = error_of([&] {
    StoreWriter w(dir + "/s.h5", {{"a", 2}}, DType::F16, "");
    w.write_clip("c", {m});
    w.commit();
  });
  EXPECT_CONTAINS(msg, "clip c, stream a");
  EXPECT_CONTAINS(msg, "does not fit float16");
  EXPECT_CONTAINS(msg, "--dtype f32");
  EXPECT_TRUE(listing(dir).empty());
}

TEST(Store, ShardedStoreReadsBackThroughItsIndex) {
  const std::string dir = fresh_dir("sharded");
  const std::string path = dir + "/feats.h5";
  write_store(path, 10, DType::F32, 3);
  const auto names = listing(dir);
  EXPECT_EQ(names.size(), 4u);  // the index and 3 shards
  EXPECT_TRUE(names.count("feats.h5"));

  StoreReader r(path);
  EXPECT_EQ(r.info().num_shards, 3);
  EXPECT_EQ(r.info().num_clips, 10);
  ASSERT_EQ(r.files().size(), 4u);
  EXPECT_EQ(r.files()[0], path);
  std::vector<std::string> want_ids;
  for (int c = 0; c < 10; ++c) want_ids.push_back(clip_name(c));
  EXPECT_EQ(r.clip_ids(), want_ids);
  for (int c = 0; c < 10; ++c) {
    const auto got = r.read_clip(clip_name(c));
    const auto want = clip_features(c);
    for (size_t s = 0; s < 2; ++s) EXPECT_EQ(got[s].values, want[s].values);
  }
  // Every shard is a store file of the same layout, refused on its own.
  const std::string msg = error_of([&] { StoreReader shard(r.files()[1]); });
  EXPECT_CONTAINS(msg, r.files()[1]);
  EXPECT_CONTAINS(msg, "open the store's index file");
}

TEST(Store, ShardsMissingFromTheIndexAreReported) {
  const std::string dir = fresh_dir("shardmissing");
  const std::string path = dir + "/feats.h5";
  write_store(path, 6, DType::F16, 2);
  const std::string shard = StoreReader(path).files()[2];
  fs::remove(shard);
  const std::string msg = error_of([&] { StoreReader r(path); });
  EXPECT_CONTAINS(msg, shard);
  EXPECT_CONTAINS(msg, "is missing");
}

TEST(Store, WriterDestroyedWithoutCommitLeavesNothing) {
  const std::string dir = fresh_dir("nocommit");
  for (const int64_t shards : {1, 3}) {
    {
      StoreWriter w(dir + "/feats.h5", kStreams, DType::F16, "", shards);
      w.write_clip("clip-0", clip_features(0));
      w.write_clip("clip-1", clip_features(1));
    }
    EXPECT_TRUE(listing(dir).empty()) << shards << " shards";
    const std::string msg = error_of([&] { StoreReader r(dir + "/feats.h5"); });
    EXPECT_CONTAINS(msg, dir + "/feats.h5: no such store file");
  }
}

TEST(Store, ReplacingAStoreKeepsTheOldOneUntilCommit) {
  const std::string dir = fresh_dir("replace");
  const std::string path = dir + "/feats.h5";
  write_store(path, 4, DType::F32, 2);
  {
    StoreWriter w(path, kStreams, DType::F32, "second", 2);
    w.write_clip("new-clip", clip_features(7));
    EXPECT_EQ(StoreReader(path).clip_ids().size(), 4u);  // still the old store
    w.commit();
  }
  StoreReader r(path);
  EXPECT_EQ(r.clip_ids(), std::vector<std::string>{"new-clip"});
  EXPECT_EQ(r.info().source, "second");
  EXPECT_EQ(listing(dir).size(), 3u);  // the old shards are gone
}

TEST(Store, TruncatedFileIsRefused) {
  const std::string dir = fresh_dir("truncated");
  const std::string path = dir + "/feats.h5";
  write_store(path, 3, DType::F32, 1);
  fs::resize_file(path, fs::file_size(path) / 2);
  const std::string msg = error_of([&] { StoreReader r(path); });
  EXPECT_CONTAINS(msg, path + ": cannot open the store");
  EXPECT_CONTAINS(msg, "truncated");
}

// One bit flipped in a clip's values after packing (a bad disk, a bad copy): reading that clip
// is one error naming the store, clip and stream; the other clips still read.
TEST(Store, AFlippedBitInTheValuesFailsTheChecksumNamingTheClip) {
  const std::string dir = fresh_dir("flipped");
  const std::string path = dir + "/feats.h5";
  write_store(path, 3, DType::F32, 1);
  EXPECT_TRUE(StoreReader(path).has_checksums("clip-1", 1));
  EXPECT_CONTAINS(summarize_store(path), "checksums  CRC-32C per clip and stream");

  const float target = 1102.375f;  // clip-1, omnivore, t=2, d=3: written once in the file
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
  bytes[at] = static_cast<char>(bytes[at] ^ 0x01);  // 1102.375 -> 1102.3751
  std::ofstream(path, std::ios::binary | std::ios::trunc) << bytes;

  StoreReader r(path);
  const std::string msg = error_of([&] { r.read_clip("clip-1"); });
  EXPECT_CONTAINS(msg, path + ", clip clip-1, stream omnivore");
  EXPECT_CONTAINS(msg, "checksum");
  EXPECT_CONTAINS(msg, "asl pack");
  EXPECT_EQ(r.read_clip("clip-0")[1].at(1, 3), pattern(0, 1, 2, 5).at(1, 3));  // untouched clips read
  EXPECT_EQ(r.read("clip-1", 0).at(1, 1), pattern(1, 0, 5, 3).at(1, 1));
  const VerifyReport report = verify_store(path);  // asl inspect STORE --verify
  ASSERT_EQ(report.problems.size(), 1u);
  EXPECT_CONTAINS(report.problems[0], "clip clip-1, stream omnivore: the features fail their checksum");
}

TEST(Store, ForeignFilesAreRefused) {
  const std::string dir = fresh_dir("foreign");
  const std::string text = dir + "/notes.h5";
  std::ofstream(text) << "not hdf5 at all";
  EXPECT_CONTAINS(error_of([&] { StoreReader r(text); }), text + ": not an HDF5 file");

  // An HDF5 file without our attributes, one of another format, one of a future version.
  auto make = [&](const std::string& name, const char* format, int64_t version) {
    const std::string p = dir + "/" + name;
    hid_t f = H5Fcreate(p.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    if (format) {
      hid_t str = H5Tcopy(H5T_C_S1);
      H5Tset_size(str, std::strlen(format));
      hid_t scalar = H5Screate(H5S_SCALAR);
      hid_t a = H5Acreate2(f, "format", str, scalar, H5P_DEFAULT, H5P_DEFAULT);
      H5Awrite(a, str, format);
      H5Aclose(a);
      a = H5Acreate2(f, "version", H5T_STD_I64LE, scalar, H5P_DEFAULT, H5P_DEFAULT);
      H5Awrite(a, H5T_NATIVE_INT64, &version);
      H5Aclose(a);
      H5Sclose(scalar);
      H5Tclose(str);
    }
    H5Fclose(f);
    return p;
  };
  const std::string plain = make("plain.h5", nullptr, 0);
  const std::string other = make("other.h5", "some-other-format", 1);
  const std::string future = make("future.h5", "ego4d-asl-feature-store", 2);
  EXPECT_CONTAINS(error_of([&] { StoreReader r(plain); }),
                  plain + ": not an ego4d-asl feature store (no 'format' attribute)");
  EXPECT_CONTAINS(error_of([&] { StoreReader r(other); }),
                  other + ": not an ego4d-asl feature store (format attribute is "
                          "'some-other-format'");
  EXPECT_CONTAINS(error_of([&] { StoreReader r(future); }),
                  future + ": store format version 2 is not supported");
}

TEST(Store, MissingClipAndStreamNameTheStore) {
  const std::string path = fresh_dir("missing") + "/feats.h5";
  write_store(path, 2, DType::F16, 1);
  StoreReader r(path);
  EXPECT_CONTAINS(error_of([&] { r.read("nope", 0); }), path + ", clip nope: clip is not in the store");
  EXPECT_CONTAINS(error_of([&] { r.stream_index("egovlp"); }),
                  path + ": no feature stream 'egovlp' in the store (its streams are: slowfast, omnivore)");
}

TEST(Store, WriterRejectsBadClips) {
  const std::string dir = fresh_dir("badclips");
  const std::string path = dir + "/feats.h5";
  std::string wrong_dim, nan, twice, slash;
  {
    StoreWriter w(path, kStreams, DType::F32, "");
    w.write_clip("ok", clip_features(0));
    wrong_dim = error_of([&] { w.write_clip("c1", {pattern(1, 0, 4, 3), pattern(1, 1, 4, 6)}); });
    auto bad = clip_features(2);
    bad[1].at(1, 2) = std::nanf("");
    nan = error_of([&] { w.write_clip("c2", bad); });
    twice = error_of([&] { w.write_clip("ok", clip_features(0)); });
    slash = error_of([&] { w.write_clip("a/b", clip_features(0)); });
  }  // destroyed without commit
  EXPECT_CONTAINS(wrong_dim, path + ", clip c1, stream omnivore: features have 6 channels, the stream has 5");
  EXPECT_CONTAINS(nan, path + ", clip c2, stream omnivore: NaN at t=1 d=2");
  EXPECT_CONTAINS(twice, "clip ok: clip written twice");
  EXPECT_CONTAINS(slash, "clip id 'a/b' cannot name an HDF5 group");
  EXPECT_TRUE(listing(dir).empty());
}

// A write that fails half-way (here: a file size limit, as a full disk would) poisons the
// writer: commit() refuses and nothing is left. Runs in a child process (the limit stays there).
int failed_write_child(const std::string& dir) {
  std::signal(SIGXFSZ, SIG_IGN);
  const rlimit limit{1 << 20, 1 << 20};
  setrlimit(RLIMIT_FSIZE, &limit);
  std::string first, second;
  {
    StoreWriter w(dir + "/feats.h5", {{"a", 1024}}, DType::F32, "");
    first = error_of([&] { w.write_clip("big", {FeatureMatrix(2048, 1024)}); });  // 8 MiB
    second = error_of([&] { w.commit(); });
  }
  std::fprintf(stderr, "%s\n%s\n", first.c_str(), second.c_str());
  const bool ok =
      first.find("clip big, stream a: cannot write the features") != std::string::npos &&
      second.find("not committed") != std::string::npos && listing(dir).empty();
  return ok ? 0 : 1;
}

TEST(StoreDeathTest, FailedWriteIsNeverCommitted) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");  // LibTorch has threads: re-run, not fork
  const std::string dir = fresh_dir("diskfull");
  EXPECT_EXIT(std::exit(failed_write_child(dir)), ::testing::ExitedWithCode(0),
              "cannot write the features");
}

TEST(Store, ReadersShareAStoreAcrossThreads) {
  const std::string path = fresh_dir("threads") + "/feats.h5";
  write_store(path, 8, DType::F16, 2);
  const StoreReader r(path);
  std::vector<int> wrong(4, 0);
  std::vector<std::thread> threads;
  for (int k = 0; k < 4; ++k) {
    threads.emplace_back([&, k] {
      for (int pass = 0; pass < 20; ++pass) {
        for (int c = 0; c < 8; ++c) {
          const auto got = r.read_clip(clip_name(c));
          const auto want = clip_features(c);
          for (size_t s = 0; s < 2; ++s) {
            for (size_t i = 0; i < want[s].values.size(); ++i) {
              // Values up to ~7600 with 1/8 steps: half keeps them where the spacing allows.
              const float h = half_to_float(float_to_half(want[s].values[i]));
              if (got[s].values[i] != h) ++wrong[k];
            }
          }
        }
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(wrong, std::vector<int>(4, 0));
}

// Rewrites a dataset of a committed store by hand, as damage a store could suffer.
void damage(const std::string& path, const std::string& dataset, int64_t rows, int64_t cols,
            float value) {
  hid_t f = H5Fopen(path.c_str(), H5F_ACC_RDWR, H5P_DEFAULT);
  H5Ldelete(f, dataset.c_str(), H5P_DEFAULT);
  const hsize_t dims[2] = {static_cast<hsize_t>(rows), static_cast<hsize_t>(cols)};
  hid_t space = H5Screate_simple(2, dims, nullptr);
  hid_t ds = H5Dcreate2(f, dataset.c_str(), H5T_IEEE_F32LE, space, H5P_DEFAULT, H5P_DEFAULT,
                        H5P_DEFAULT);
  std::vector<float> v(static_cast<size_t>(rows * cols), 1.0f);
  v[static_cast<size_t>(cols + 1)] = value;  // t=1, d=1
  v.back() = value;
  H5Dwrite(ds, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, v.data());
  H5Dclose(ds);
  H5Sclose(space);
  H5Fclose(f);
}

TEST(Store, VerifyFindsNonFiniteValuesAndBadShapes) {
  const std::string path = fresh_dir("verify") + "/feats.h5";
  write_store(path, 3, DType::F32, 1);
  VerifyReport clean = verify_store(path);
  EXPECT_EQ(clean.clips, 3);
  EXPECT_EQ(clean.datasets, 6);
  // clip c has (4+c) x 3 and (2+c) x 5 values: 12+15+18 + 10+15+20.
  EXPECT_EQ(clean.values, 90);
  EXPECT_TRUE(clean.problems.empty());

  damage(path, "clip-1/slowfast", 5, 3, std::nanf(""));
  damage(path, "clip-2/omnivore", 4, 7, 1.0f);
  const VerifyReport bad = verify_store(path);
  EXPECT_EQ(bad.datasets, 5);
  ASSERT_EQ(bad.problems.size(), 2u);
  EXPECT_EQ(bad.problems[0], "clip clip-1 stream slowfast: 2 NaN, 0 Inf, first at t=1 d=1");
  EXPECT_CONTAINS(bad.problems[1], "clip clip-2, stream omnivore: the dataset is 4 x 7, the "
                                   "stream's dimension is 5");
}

TEST(Store, MissingDatasetIsReportedWithoutHdf5Printing) {
  const std::string path = fresh_dir("nodataset") + "/feats.h5";
  write_store(path, 2, DType::F16, 1);
  hid_t f = H5Fopen(path.c_str(), H5F_ACC_RDWR, H5P_DEFAULT);
  H5Ldelete(f, "clip-1/omnivore", H5P_DEFAULT);
  H5Fclose(f);
  const StoreReader r(path);
  std::string msg;
  ::testing::internal::CaptureStderr();
  // A new thread: a thread-safe HDF5 build keeps its error-printing switch per thread.
  std::thread([&] { msg = error_of([&] { r.read_clip("clip-1"); }); }).join();
  const std::string printed = ::testing::internal::GetCapturedStderr();
  EXPECT_CONTAINS(msg, path + ", clip clip-1, stream omnivore: the stream's dataset is missing");
  EXPECT_EQ(printed, "");
}

TEST(Store, SummaryNamesLayoutAndCounts) {
  const std::string path = fresh_dir("summary") + "/feats.h5";
  write_store(path, 3, DType::F16, 2);
  const std::string s = summarize_store(path);
  EXPECT_CONTAINS(s, "ego4d-asl-feature-store, version 1");
  EXPECT_CONTAINS(s, "dtype      f16");
  EXPECT_CONTAINS(s, "clips      3");
  EXPECT_CONTAINS(s, "slowfast             3 dims, steps per clip 4 to 6 (mean 5.0)");
  EXPECT_CONTAINS(s, "omnivore             5 dims, steps per clip 2 to 4 (mean 3.0)");
  EXPECT_CONTAINS(s, "shards     2 files");
}

TEST(HalfBatch, MatchesTheScalarConversion) {
  std::vector<uint16_t> all(65536);
  for (size_t i = 0; i < all.size(); ++i) all[i] = static_cast<uint16_t>(i);
  std::vector<float> fast(all.size());
  halves_to_floats(all.data(), fast.data(), all.size());
  for (size_t i = 0; i < all.size(); ++i) {
    const float want = half_to_float(all[i]);
    if (std::isnan(want)) {
      EXPECT_TRUE(std::isnan(fast[i])) << i;
    } else {
      EXPECT_EQ(std::memcmp(&fast[i], &want, 4), 0) << "half bits " << i;
    }
  }
  // Finite floats: every half value, the midpoints between neighbours (ties to even), and
  // points just off them, over normal and subnormal ranges.
  std::vector<float> floats;
  for (uint32_t h = 0; h < 0x7bffu; ++h) {  // up to the largest finite half
    const float a = half_to_float(static_cast<uint16_t>(h));
    const float b = half_to_float(static_cast<uint16_t>(h + 1));
    const float mid = (a + b) / 2;
    for (const float v : {a, mid, std::nextafter(mid, 0.0f), std::nextafter(mid, 1e9f)}) {
      floats.push_back(v);
      floats.push_back(-v);
    }
  }
  std::vector<uint16_t> halves(floats.size());
  floats_to_halves(floats.data(), halves.data(), floats.size());
  int mismatches = 0;
  for (size_t i = 0; i < floats.size(); ++i) mismatches += halves[i] != float_to_half(floats[i]);
  EXPECT_EQ(mismatches, 0);
}

TEST(HalfBatch, ExpandsInPlaceFromTheBackOfTheBuffer) {
  for (const size_t n : {size_t{1}, size_t{7}, size_t{8}, size_t{9}, size_t{1003}}) {
    std::vector<uint16_t> in(n);
    for (size_t i = 0; i < n; ++i) in[i] = static_cast<uint16_t>((i * 2654435761u) & 0x7bffu);
    std::vector<float> buf(n, -1.0f);
    std::memcpy(reinterpret_cast<unsigned char*>(buf.data()) + 2 * n, in.data(), 2 * n);
    expand_halves_in_place(buf.data(), n);
    for (size_t i = 0; i < n; ++i) EXPECT_EQ(buf[i], half_to_float(in[i])) << n << " " << i;
  }
}

}  // namespace
}  // namespace asl::data
