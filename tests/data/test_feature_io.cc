// Feature files: the committed fixtures (made by tests/data/fixtures/make_fixtures.py with
// NumPy and PyTorch), round trips, half precision against the compiler's _Float16, the
// per-video cut, and every bad input.
#include <gtest/gtest.h>

#include "common/test_util.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <functional>
#include <string>
#include <vector>

#include "core/error.h"
#include "core/fs.h"
#include "data/feature_io.h"
#include "data/half.h"

namespace asl::data {
namespace {

using asl::testing::error_of;

namespace fs = std::filesystem;

std::string fixture(const std::string& name) {
  return std::string(ASL_SOURCE_DIR) + "/tests/data/fixtures/" + name;
}

// Every fixture matrix holds value(r, c) = r * 0.5 - c, 4 x 3.
float fixture_value(int64_t r, int64_t c) {
  return static_cast<float>(r) * 0.5f - static_cast<float>(c);
}

void expect_fixture_values(const FeatureMatrix& m) {
  ASSERT_EQ(m.rows, 4);
  ASSERT_EQ(m.cols, 3);
  ASSERT_EQ(m.values.size(), 12u);
  for (int64_t r = 0; r < 4; ++r) {
    for (int64_t c = 0; c < 3; ++c) EXPECT_EQ(m.at(r, c), fixture_value(r, c)) << r << "," << c;
  }
}

// A fresh, empty folder per test under the test temp dir.
std::string temp_folder() {
  const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
  const fs::path dir = fs::path(::testing::TempDir()) /
                       (std::string("feature_io_") + info->test_suite_name() + "_" + info->name());
  fs::remove_all(dir);
  fs::create_directories(dir);
  return dir.string();
}

std::vector<std::string> files_in(const std::string& dir) {
  std::vector<std::string> names;
  for (const auto& e : fs::directory_iterator(dir)) names.push_back(e.path().filename().string());
  return names;
}

// The asl::Error message thrown by `f`; a test failure if it throws nothing.
void write_bytes(const std::string& path, const std::string& bytes) {
  write_file_atomic(path, bytes);
}

// An .npy file with the given header dict text, padded as NumPy pads it.
std::string npy_bytes(const std::string& dict, const std::string& data, int version = 1) {
  const size_t prefix = version == 1 ? 10 : 12;
  std::string header = dict;
  while ((prefix + header.size() + 1) % 64 != 0) header += ' ';
  header += '\n';
  std::string out = "\x93NUMPY";
  out += static_cast<char>(version);
  out += '\0';
  const auto len = static_cast<uint32_t>(header.size());
  for (size_t i = 0; i < (version == 1 ? 2u : 4u); ++i)
    out += static_cast<char>((len >> (8 * i)) & 0xff);
  return out + header + data;
}

std::string f32_data(size_t count) {
  std::string data(count * 4, '\0');
  for (size_t i = 0; i < count; ++i) {
    const float v = static_cast<float>(i);
    std::memcpy(&data[i * 4], &v, 4);
  }
  return data;
}

// Deterministic 64-bit generator (SplitMix64), so the tests need no seeds from <random>.
struct SplitMix {
  uint64_t state;
  uint64_t next() {
    uint64_t z = (state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
  }
};

float bits_to_float(uint32_t bits) {
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}

uint32_t float_bits(float f) {
  uint32_t b;
  std::memcpy(&b, &f, 4);
  return b;
}

// ---------------------------------------------------------------------------------------
// dtypes

TEST(FeatureDType, NamesRoundTrip) {
  EXPECT_STREQ(dtype_name(DType::F16), "f16");
  EXPECT_STREQ(dtype_name(DType::F32), "f32");
  EXPECT_EQ(parse_dtype("f16"), DType::F16);
  EXPECT_EQ(parse_dtype("f32"), DType::F32);
  const std::string msg = error_of([] { parse_dtype("float64"); });
  EXPECT_CONTAINS(msg, "float64");
  EXPECT_CONTAINS(msg, "f16 or f32");
}

// ---------------------------------------------------------------------------------------
// Fixtures written by NumPy and PyTorch

TEST(FeatureFixtures, NpyVersionsAndDtypes) {
  for (const char* name : {"f4_v1.npy", "f2_v1.npy", "f4_v2.npy", "f2_v3.npy"}) {
    SCOPED_TRACE(name);
    expect_fixture_values(read_npy(fixture(name)));
    expect_fixture_values(read_feature_file(fixture(name)));
  }
}

TEST(FeatureFixtures, PtContiguousFloat32) {
  expect_fixture_values(read_pt(fixture("f32.pt")));
  expect_fixture_values(read_feature_file(fixture("f32.pt")));
}

// A transposed float16 view at storage offset 9 of a 5 x 7 storage filled with 99 elsewhere:
// any 99 in the result means the reader ignored the offset or the strides.
TEST(FeatureFixtures, PtNonContiguousFloat16View) {
  expect_fixture_values(read_pt(fixture("f16_view.pt")));
}

TEST(FeatureFixtures, WriteNpyMatchesNumPyByteForByte) {
  FeatureMatrix m(4, 3);
  for (int64_t r = 0; r < 4; ++r) {
    for (int64_t c = 0; c < 3; ++c) m.at(r, c) = fixture_value(r, c);
  }
  const std::string dir = temp_folder();
  write_npy(dir + "/a.npy", m, DType::F32);
  write_npy(dir + "/b.npy", m, DType::F16);
  EXPECT_EQ(read_file(dir + "/a.npy"), read_file(fixture("f4_v1.npy")));
  EXPECT_EQ(read_file(dir + "/b.npy"), read_file(fixture("f2_v1.npy")));
}

TEST(FeatureFixtures, UnsupportedFilesAreNamedWithAFix) {
  struct Case {
    const char* file;
    std::vector<const char*> parts;
  };
  const std::vector<Case> cases = {
      {"f32_legacy.pt", {"legacy", "torch.save(torch.load(path), path)"}},
      {"dict.pt", {"holds a dict (keys 'features'), not a tensor", "torch.save(t, path)"}},
      {"dict2.pt", {"holds a dict (keys 'features', 'fps'), not a tensor", "torch.save(t, path)"}},
      {"f32_3d.pt", {"shape [2, 4, 3] (3-D)", "2-D"}},
      {"f64.pt", {"torch.float64", "float32 or torch.float16"}},
      {"f4_big_endian.npy", {"big-endian floats ('>f4')", "a.astype('<f4')"}},
      {"f4_fortran.npy", {"Fortran", "np.ascontiguousarray"}},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.file);
    const std::string path = fixture(c.file);
    const std::string msg = error_of([&] { read_feature_file(path); });
    EXPECT_EQ(msg.rfind(path + ": ", 0), 0u) << msg;  // the message starts with the file
    for (const char* part : c.parts) EXPECT_CONTAINS(msg, part);
  }
}

// ---------------------------------------------------------------------------------------
// Round trips

FeatureMatrix varied_matrix(int64_t rows, int64_t cols) {
  // Magnitudes from half subnormals to beyond half's range, both signs, and ties.
  FeatureMatrix m(rows, cols);
  SplitMix rng{42};
  for (auto& v : m.values) {
    const double unit = static_cast<double>(rng.next() >> 11) / 9007199254740992.0;  // [0, 1)
    const double scale = std::pow(2.0, static_cast<int>(rng.next() % 44) - 26);  // 2^-26 .. 2^17
    v = static_cast<float>(((rng.next() & 1) ? -1.0 : 1.0) * unit * scale);
  }
  m.values[0] = 1.0f + 1.0f / 2048.0f;  // a tie between two halves: rounds to even (1.0)
  m.values[1] = 65520.0f;               // rounds to +Inf in half
  m.values[2] = -0.0f;
  return m;
}

TEST(FeatureRoundTrip, Float32IsExact) {
  const std::string dir = temp_folder();
  const FeatureMatrix m = varied_matrix(37, 11);
  for (const char* name : {"/x.npy", "/x.pt"}) {
    SCOPED_TRACE(name);
    const std::string path = dir + name;
    if (std::string(name) == "/x.npy") {
      write_npy(path, m, DType::F32);
    } else {
      write_pt(path, m, DType::F32);
    }
    const FeatureMatrix back = read_feature_file(path);
    ASSERT_EQ(back.rows, 37);
    ASSERT_EQ(back.cols, 11);
    for (size_t i = 0; i < m.values.size(); ++i) {
      ASSERT_EQ(float_bits(back.values[i]), float_bits(m.values[i])) << i;
    }
  }
}

TEST(FeatureRoundTrip, Float16RoundsToNearestEven) {
  const std::string dir = temp_folder();
  const FeatureMatrix m = varied_matrix(29, 13);
  write_npy(dir + "/x.npy", m, DType::F16);
  write_pt(dir + "/x.pt", m, DType::F16);  // LibTorch reads these back: tests/serialize
  const FeatureMatrix from_npy = read_npy(dir + "/x.npy");
  const FeatureMatrix from_pt = read_pt(dir + "/x.pt");
  ASSERT_EQ(from_npy.values.size(), m.values.size());
  ASSERT_EQ(from_pt.values.size(), m.values.size());
  for (size_t i = 0; i < m.values.size(); ++i) {
    const float expected = half_to_float(float_to_half(m.values[i]));
    ASSERT_EQ(float_bits(from_npy.values[i]), float_bits(expected)) << i;
    ASSERT_EQ(float_bits(from_pt.values[i]), float_bits(expected)) << i;
#if defined(__FLT16_MAX__)
    const float by_compiler = static_cast<float>(static_cast<_Float16>(m.values[i]));
    ASSERT_EQ(float_bits(expected), float_bits(by_compiler)) << m.values[i];
#endif
  }
  EXPECT_EQ(from_npy.values[0], 1.0f);
  EXPECT_TRUE(std::isinf(from_npy.values[1]));
  EXPECT_TRUE(std::signbit(from_npy.values[2]));
}

TEST(FeatureRoundTrip, EmptyMatrix) {
  const std::string dir = temp_folder();
  const FeatureMatrix m(0, 5);
  write_npy(dir + "/x.npy", m, DType::F16);
  write_pt(dir + "/x.pt", m, DType::F32);
  for (const char* name : {"/x.npy", "/x.pt"}) {
    const FeatureMatrix back = read_feature_file(dir + name);
    EXPECT_EQ(back.rows, 0);
    EXPECT_EQ(back.cols, 5);
  }
}

TEST(FeatureRoundTrip, OverwritesAtomically) {
  const std::string dir = temp_folder();
  FeatureMatrix m(2, 2);
  m.values = {1, 2, 3, 4};
  write_npy(dir + "/x.npy", m, DType::F32);
  m.values = {5, 6, 7, 8};
  write_npy(dir + "/x.npy", m, DType::F32);
  EXPECT_EQ(read_npy(dir + "/x.npy").values, m.values);
  EXPECT_EQ(files_in(dir), std::vector<std::string>{"x.npy"});
}

// ---------------------------------------------------------------------------------------
// Half precision against the compiler's _Float16 (an independent implementation)

#if defined(__FLT16_MAX__)
TEST(Half, EveryHalfToFloat) {
  for (uint32_t h = 0; h <= 0xffff; ++h) {
    _Float16 x;
    const auto h16 = static_cast<uint16_t>(h);
    std::memcpy(&x, &h16, 2);
    const float expected = static_cast<float>(x);
    const float got = half_to_float(h16);
    if (std::isnan(expected)) {
      ASSERT_TRUE(std::isnan(got)) << h;
      ASSERT_EQ(std::signbit(got), std::signbit(expected)) << h;
    } else {
      ASSERT_EQ(float_bits(got), float_bits(expected)) << h;
    }
  }
}

void expect_float_to_half(float f) {
  const _Float16 x = static_cast<_Float16>(f);
  uint16_t expected;
  std::memcpy(&expected, &x, 2);
  const uint16_t got = float_to_half(f);
  const bool expected_nan = (expected & 0x7c00) == 0x7c00 && (expected & 0x3ff) != 0;
  if (expected_nan) {
    ASSERT_EQ(got & 0x7c00, 0x7c00) << float_bits(f);
    ASSERT_NE(got & 0x3ff, 0) << float_bits(f);
    ASSERT_EQ(got & 0x8000, expected & 0x8000) << float_bits(f);
  } else {
    ASSERT_EQ(got, expected) << "float bits 0x" << std::hex << float_bits(f);
  }
}

TEST(Half, MillionsOfFloatsToHalf) {
  SplitMix rng{7};
  // Any bit pattern: NaNs, infinities, huge and tiny values.
  for (int i = 0; i < 1500000; ++i) {
    expect_float_to_half(bits_to_float(static_cast<uint32_t>(rng.next())));
    if (HasFatalFailure()) return;
  }
  // Dense in and around half's range (2^-26 .. 2^17), both signs.
  for (int i = 0; i < 1500000; ++i) {
    const uint64_t r = rng.next();
    const uint32_t bits = 0x32800000u + static_cast<uint32_t>(r % (0x48000000u - 0x32800000u));
    expect_float_to_half(bits_to_float(bits | (r >> 63 ? 0x80000000u : 0u)));
    if (HasFatalFailure()) return;
  }
  // Every midpoint between neighbouring halves and the floats just beside it: the ties.
  for (uint32_t h = 0; h < 0x7c00; ++h) {
    const double lo = half_to_float(static_cast<uint16_t>(h));
    const double hi = h + 1 == 0x7c00 ? 65536.0 : half_to_float(static_cast<uint16_t>(h + 1));
    const auto mid = static_cast<float>((lo + hi) / 2);  // exact in float
    for (const float f : {mid, std::nextafter(mid, 0.0f), std::nextafter(mid, 1e30f)}) {
      expect_float_to_half(f);
      expect_float_to_half(-f);
    }
    if (HasFatalFailure()) return;
  }
}
#endif

// ---------------------------------------------------------------------------------------
// Per-video features cut to clips

FeatureMatrix numbered_video(int64_t rows) {
  FeatureMatrix v(rows, 2);
  for (int64_t r = 0; r < rows; ++r) {
    v.at(r, 0) = static_cast<float>(r);
    v.at(r, 1) = static_cast<float>(-r);
  }
  return v;
}

// The rows [first, last) of numbered_video, i.e. their row numbers in column 0.
void expect_rows(const FeatureMatrix& clip, int64_t first, int64_t last) {
  ASSERT_EQ(clip.rows, last - first);
  ASSERT_EQ(clip.cols, 2);
  for (int64_t r = 0; r < clip.rows; ++r) {
    EXPECT_EQ(clip.at(r, 0), static_cast<float>(first + r));
    EXPECT_EQ(clip.at(r, 1), static_cast<float>(-(first + r)));
  }
}

TEST(CutToClip, HandWorkedCases) {
  const FeatureMatrix video = numbered_video(20);  // 2 rows/s: covers [0, 10) s
  // [1, 3) s * 2 = [2, 6): rows 2..5 cover [1, 1.5) ... [2.5, 3).
  expect_rows(cut_to_clip(video, 1.0, 3.0, 2.0), 2, 6);
  // [1.2, 2.9) s * 2 = [2.4, 5.8): floor 2, ceil 6; rows 2 and 5 overlap partly.
  expect_rows(cut_to_clip(video, 1.2, 2.9, 2.0), 2, 6);
  // [1.3, 3.1) s * 2 = [2.6, 6.2): floor 2, ceil 7.
  expect_rows(cut_to_clip(video, 1.3, 3.1, 2.0), 2, 7);
  // [8, 12) s * 2 = [16, 24), clamped to the 20 rows.
  expect_rows(cut_to_clip(video, 8.0, 12.0, 2.0), 16, 20);
  // [-0.5, 1) s * 2 = [-1, 2), clamped to row 0.
  expect_rows(cut_to_clip(video, -0.5, 1.0, 2.0), 0, 2);
  // The whole video.
  expect_rows(cut_to_clip(video, 0.0, 10.0, 2.0), 0, 20);
  // A sliver inside one row: [3.1, 3.2) s * 2 = [6.2, 6.4): row 6 alone.
  expect_rows(cut_to_clip(video, 3.1, 3.2, 2.0), 6, 7);
}

TEST(CutToClip, Ego4DRate) {
  // 1.875 features/s (16-frame stride at 30 fps): an 8-minute clip starting 16 s into
  // the video is rows [30, 930).
  const FeatureMatrix video = numbered_video(1200);
  expect_rows(cut_to_clip(video, 16.0, 496.0, 1.875), 30, 930);
  // 2.4 s * 1.875 = 4.5 and 5.6 s * 1.875 = 10.5: rows 4..10.
  expect_rows(cut_to_clip(video, 2.4, 5.6, 1.875), 4, 11);
}

TEST(CutToClip, DecimalNoiseNeitherAddsNorDropsARow) {
  const FeatureMatrix video = numbered_video(100);
  // (0.1 + 0.2) * 10 = 3.0000000000000004 and (0.7 - 0.4) * 10 = 2.999999999999999 in
  // double; both mean row boundary 3.
  expect_rows(cut_to_clip(video, 0.0, 0.1 + 0.2, 10.0), 0, 3);
  expect_rows(cut_to_clip(video, 0.7 - 0.4, 1.0, 10.0), 3, 10);
}

TEST(CutToClip, ErrorsNameTheClip) {
  const FeatureMatrix video = numbered_video(20);
  struct Case {
    double start, end, fps;
    const char* part;
  };
  const std::vector<Case> cases = {
      {10.0, 11.0, 2.0, "outside"},  // starts where the features end
      {-3.0, -1.0, 2.0, "outside"},  // before the video
      {3.0, 3.0, 2.0, "empty"},      // empty span
      {4.0, 3.0, 2.0, "empty"},      // end before start
      {std::nan(""), 3.0, 2.0, "not finite"},
      {1.0, 3.0, 0.0, "feature rate"},
      {1.0, 3.0, -1.875, "feature rate"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(std::string(c.part) + " " + std::to_string(c.start));
    const std::string msg =
        error_of([&] { cut_to_clip(video, c.start, c.end, c.fps, "clip 0a1b-2c3d"); });
    EXPECT_EQ(msg.rfind("clip 0a1b-2c3d: ", 0), 0u) << msg;
    EXPECT_CONTAINS(msg, c.part);
  }
  EXPECT_CONTAINS(error_of([&] { cut_to_clip(video, 10.0, 11.0, 2.0, "c"); }),
                  "20 rows at 2 per second cover [0, 10) s");
}

// ---------------------------------------------------------------------------------------
// check_finite

TEST(CheckFinite, NamesCountAndFirstPosition) {
  FeatureMatrix m(4, 3);
  EXPECT_NO_THROW(check_finite(m, "f.npy"));
  m.at(2, 1) = std::nanf("");
  m.at(3, 0) = INFINITY;
  std::string msg = error_of([&] { check_finite(m, "clip c1 feature video"); });
  EXPECT_EQ(msg.rfind("clip c1 feature video: ", 0), 0u) << msg;
  EXPECT_CONTAINS(msg, "2 of 12");
  EXPECT_CONTAINS(msg, "NaN at row 2, column 1");
  m.at(2, 1) = 0;
  m.at(0, 2) = -INFINITY;
  msg = error_of([&] { check_finite(m, "x"); });
  EXPECT_CONTAINS(msg, "-Inf at row 0, column 2");
}

// ---------------------------------------------------------------------------------------
// Bad .npy files

TEST(NpyErrors, TruncatedAndBadMagic) {
  const std::string dir = temp_folder();
  const std::string good = read_file(fixture("f4_v1.npy"));  // 128-byte header + 48 bytes
  struct Case {
    std::string bytes;
    const char* part;
  };
  const std::vector<Case> cases = {
      {good.substr(0, good.size() - 5),
       "truncated: shape (4, 3) needs 48 bytes of data, the file has 43"},
      {good.substr(0, 128), "truncated"},
      {good.substr(0, 60), "truncated inside the .npy header"},
      {good.substr(0, 9), "truncated inside the .npy header"},
      {good.substr(0, 4), "not a NumPy .npy file"},
      {"", "not a NumPy .npy file"},
      {"PK\x03\x04 this is a zip", "not a NumPy .npy file"},
      {good + "xyz", "3 bytes after the array data"},
  };
  for (size_t i = 0; i < cases.size(); ++i) {
    SCOPED_TRACE(cases[i].part);
    const std::string path = dir + "/bad" + std::to_string(i) + ".npy";
    write_bytes(path, cases[i].bytes);
    const std::string msg = error_of([&] { read_feature_file(path); });
    EXPECT_EQ(msg.rfind(path + ": ", 0), 0u) << msg;
    EXPECT_CONTAINS(msg, cases[i].part);
  }
}

TEST(NpyErrors, HeaderContents) {
  const std::string dir = temp_folder();
  const std::string d12 = f32_data(12);
  struct Case {
    std::string bytes;
    const char* part;
  };
  const std::vector<Case> cases = {
      {npy_bytes("{'descr': '<f8', 'fortran_order': False, 'shape': (4, 3), }", d12 + d12),
       "dtype '<f8'"},
      {npy_bytes("{'descr': '<i4', 'fortran_order': False, 'shape': (4, 3), }", d12),
       "dtype '<i4'"},
      {npy_bytes("{'descr': '>f2', 'fortran_order': False, 'shape': (4, 3), }", d12), "big-endian"},
      {npy_bytes("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 2, 3), }", d12),
       "shape (2, 2, 3) (3-D)"},
      {npy_bytes("{'descr': '<f4', 'fortran_order': False, 'shape': (12,), }", d12),
       "shape (12,) (1-D)"},
      {npy_bytes("{'descr': '<f4', 'fortran_order': False, 'shape': (), }", f32_data(1)),
       "shape () (0-D)"},
      {npy_bytes("{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (4, 3), }", d12),
       "structured"},
      {npy_bytes("{'descr': '<f4', 'fortran_order': False, 'shape': (4, 3), ", d12),
       "not a valid .npy header"},
      {npy_bytes("{'descr': <f4, 'fortran_order': False, 'shape': (4, 3)}", d12),
       "not a valid .npy header"},
      {npy_bytes("{'descr': '<f4', 'shape': (4, 3)}", d12), "'fortran_order' is missing"},
      {npy_bytes("{'descr': '<f4', 'fortran_order': False, 'shape': (4, 3), 'x': 'y'}", d12),
       "keys other"},
      {npy_bytes("{'descr': '<f4', 'fortran_order': 0, 'shape': (4, 3)}", d12),
       "not a valid .npy header"},
      {npy_bytes("{'descr': '<f4', 'fortran_order': False, 'shape': (4, -3)}", d12),
       "non-negative integer"},
      {npy_bytes("{'descr': '<f4', 'fortran_order': False, 'shape': [4, 3]}", d12),
       "not a valid .npy header"},
      {npy_bytes("{'descr': '<f4', 'fortran_order': False, 'shape': (4, 3)} junk", d12),
       "after the dict"},
      {npy_bytes("garbage", d12), "not a valid .npy header"},
      {npy_bytes("{'descr': '<f4', 'fortran_order': False, 'shape': (9999999999, 9999999999), }",
                 d12),
       "truncated"},
      {npy_bytes("{'descr': '<f4', 'fortran_order': False, 'shape': (4, 3), }", d12, 4),
       "version 4.0"},
  };
  for (size_t i = 0; i < cases.size(); ++i) {
    SCOPED_TRACE(cases[i].part);
    const std::string path = dir + "/bad" + std::to_string(i) + ".npy";
    write_bytes(path, cases[i].bytes);
    const std::string msg = error_of([&] { read_npy(path); });
    EXPECT_EQ(msg.rfind(path + ": ", 0), 0u) << msg;
    EXPECT_CONTAINS(msg, cases[i].part);
  }
}

// Headers NumPy could have written in other styles (double quotes, Python 2 longs, no
// trailing comma, other key order) are read.
TEST(NpyErrors, LenientHeaderStylesAreRead) {
  const std::string dir = temp_folder();
  const std::vector<std::string> dicts = {
      "{\"descr\": \"<f4\", \"fortran_order\": False, \"shape\": (4L, 3L)}",
      "{'shape': (4,3), 'fortran_order': False, 'descr': '<f4'}",
  };
  for (size_t i = 0; i < dicts.size(); ++i) {
    const std::string path = dir + "/ok" + std::to_string(i) + ".npy";
    write_bytes(path, npy_bytes(dicts[i], f32_data(12), i == 0 ? 1 : 2));
    const FeatureMatrix m = read_npy(path);
    ASSERT_EQ(m.rows, 4);
    ASSERT_EQ(m.cols, 3);
    EXPECT_EQ(m.at(3, 2), 11.0f);
  }
}

// ---------------------------------------------------------------------------------------
// Bad .pt files

TEST(PtErrors, TruncatedCorruptedAndForeign) {
  const std::string dir = temp_folder();
  const std::string good = read_file(fixture("f32.pt"));
  std::string no_directory = good;  // the zip's central directory overwritten
  for (size_t i = good.size() - 60; i < good.size(); ++i) no_directory[i] = 'x';
  // A byte of the tensor data changed: the record's CRC-32 no longer matches. The data
  // follows the record's local zip header (30 bytes), its name and its extra field.
  std::string bad_record = good;
  const size_t header = good.find("f32/data/0") - 30;
  ASSERT_LT(header, good.size());
  const size_t name_len =
      static_cast<uint8_t>(good[header + 26]) | static_cast<uint8_t>(good[header + 27]) << 8;
  const size_t extra_len =
      static_cast<uint8_t>(good[header + 28]) | static_cast<uint8_t>(good[header + 29]) << 8;
  bad_record[header + 30 + name_len + extra_len + 5] ^= 0x55;
  struct Case {
    std::string bytes;
    const char* part;
  };
  const std::vector<Case> cases = {
      {good.substr(0, good.size() / 2), "truncated or corrupted"},
      {good.substr(0, 100), "truncated or corrupted"},
      {no_directory, "truncated or corrupted"},
      {bad_record, "is corrupted: the data of its zip record f32/data/0 does not match its CRC-32"},
      {"", "not a PyTorch file"},
      {"hello, world", "not a PyTorch file"},
      {read_file(fixture("f4_v1.npy")), "not a PyTorch file"},
  };
  for (size_t i = 0; i < cases.size(); ++i) {
    SCOPED_TRACE(cases[i].part);
    const std::string path = dir + "/bad" + std::to_string(i) + ".pt";
    write_bytes(path, cases[i].bytes);
    const std::string msg = error_of([&] { read_feature_file(path); });
    EXPECT_EQ(msg.rfind(path + ": ", 0), 0u) << msg;
    EXPECT_CONTAINS(msg, cases[i].part);
    EXPECT_EQ(msg.find('\n'), std::string::npos) << msg;
  }
}

// ---------------------------------------------------------------------------------------
// Missing files, unknown types, and writers that fail

TEST(FeatureFileErrors, MissingFileAndUnknownType) {
  const std::string dir = temp_folder();
  for (const char* name : {"/missing.npy", "/missing.pt"}) {
    const std::string path = dir + name;
    const std::string msg = error_of([&] { read_feature_file(path); });
    EXPECT_EQ(msg.rfind(path + ": ", 0), 0u) << msg;
    EXPECT_CONTAINS(msg, "cannot open");
  }
  write_bytes(dir + "/x.h5", "data");
  const std::string msg = error_of([&] { read_feature_file(dir + "/x.h5"); });
  EXPECT_CONTAINS(msg, dir + "/x.h5: unknown feature file type '.h5'");
  EXPECT_CONTAINS(msg, ".npy or PyTorch .pt");
  // Extensions are matched case-insensitively.
  FeatureMatrix m(1, 1);
  m.values = {2.5f};
  write_npy(dir + "/UP.NPY", m, DType::F32);
  EXPECT_EQ(read_feature_file(dir + "/UP.NPY").values, m.values);
}

TEST(FeatureFileErrors, WritersLeaveNothingBehind) {
  const std::string dir = temp_folder();
  FeatureMatrix m(2, 3);
  const std::string missing = dir + "/no/such/folder";
  for (const char* name : {"/x.npy", "/x.pt"}) {
    const std::string path = missing + name;
    const std::string msg = error_of([&] {
      if (std::string(name) == "/x.npy") {
        write_npy(path, m, DType::F16);
      } else {
        write_pt(path, m, DType::F16);
      }
    });
    EXPECT_EQ(msg.rfind(path + ": ", 0), 0u) << msg;
    EXPECT_CONTAINS(msg, "does not exist");
  }
  EXPECT_FALSE(fs::exists(dir + "/no"));

  // A matrix whose values do not match its shape: the old file stays, nothing is added.
  write_npy(dir + "/x.npy", m, DType::F32);
  write_pt(dir + "/x.pt", m, DType::F32);
  const std::string old_npy = read_file(dir + "/x.npy");
  const std::string old_pt = read_file(dir + "/x.pt");
  FeatureMatrix broken(3, 3);
  broken.values.resize(4);
  EXPECT_CONTAINS(error_of([&] { write_npy(dir + "/x.npy", broken, DType::F32); }),
                  dir + "/x.npy: the matrix holds 4 values for 3 x 3");
  EXPECT_CONTAINS(error_of([&] { write_pt(dir + "/x.pt", broken, DType::F16); }),
                  dir + "/x.pt: the matrix holds 4 values for 3 x 3");
  EXPECT_EQ(read_file(dir + "/x.npy"), old_npy);
  EXPECT_EQ(read_file(dir + "/x.pt"), old_pt);
  auto names = files_in(dir);
  std::sort(names.begin(), names.end());
  EXPECT_EQ(names, (std::vector<std::string>{"x.npy", "x.pt"}));
}

}  // namespace
}  // namespace asl::data
