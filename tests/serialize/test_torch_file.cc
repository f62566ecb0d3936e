// torch.save files read and written without LibTorch (src/serialize), checked against
// LibTorch itself: what we write, torch::pickle_load reads; what torch::pickle_save writes,
// we read, views included.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "common/test_util.h"
#include "serialize/crc32.h"
#include "serialize/torch_file.h"
#include "serialize/zip_reader.h"
#include "serialize/zip_writer.h"

namespace asl::serialize {
namespace {

using asl::testing::error_of;

std::string temp_path(const std::string& name) {
  const auto dir = std::filesystem::temp_directory_path() /
                   ("asl_serialize_" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  return (dir / name).string();
}

void write_bytes(const std::string& path, const std::string& bytes) {
  std::ofstream(path, std::ios::binary) << bytes;
}

std::string bytes_of(const std::vector<char>& v) { return std::string(v.begin(), v.end()); }

// The tensor our reader returns for `ref`, contiguous, as a LibTorch tensor of `dtype`.
at::Tensor read_back(const TorchFile& file, const TensorRef& ref, at::ScalarType dtype) {
  at::Tensor t = at::empty(ref.sizes, at::TensorOptions().dtype(dtype));
  file.read_contiguous(ref, "t", t.data_ptr());
  return t;
}

TEST(Crc32, StandardCheckValues) {
  // The check value of CRC-32/ISO-HDLC for "123456789", and of nothing.
  EXPECT_EQ(crc32("123456789", 9), 0xCBF43926u);
  EXPECT_EQ(crc32("", 0), 0u);
  // Continuing a value equals checksumming the whole.
  EXPECT_EQ(crc32("6789", 4, crc32("12345", 5)), 0xCBF43926u);
}

TEST(ZipWriter, RecordsReadBackWithTheirBytes) {
  ZipWriter zip("box");
  zip.add("a", std::string("hello"));
  zip.add("data/0", std::string(1000, 'x'));
  zip.add("empty", std::string());
  const std::string path = temp_path("box.zip");
  write_bytes(path, zip.finish());
  const ZipReader r(path);
  EXPECT_EQ(r.read("a"), "hello");
  EXPECT_EQ(r.read("data/0"), std::string(1000, 'x'));
  EXPECT_EQ(r.read("empty"), "");
  EXPECT_FALSE(r.has("b"));
  EXPECT_HAS(error_of([&] { r.read("b"); }), "has no zip record b");
}

// A directory that declares a record far larger than the file (damage, or a hostile file):
// one error naming the record. That it comes before the bytes are allocated is kept by the
// fuzz corpus (the 4 GB case the checkpoint target found replays under a 1 GB allocation
// limit in every CI run); this test cannot see allocations.
TEST(ZipReader, ARecordLargerThanTheFileIsOneErrorNamingIt) {
  ZipWriter zip("box");
  zip.add("a", std::string("hello"));
  std::string bytes = zip.finish();
  const size_t central = bytes.find(std::string("PK\x01\x02", 4));
  ASSERT_NE(central, std::string::npos);
  for (int i = 0; i < 4; ++i) bytes[central + 24 + i] = static_cast<char>(i == 0 ? 0xF0 : 0xFF);
  const std::string path = temp_path("declared.zip");
  write_bytes(path, bytes);
  const ZipReader r(path);
  EXPECT_HAS(error_of([&] { r.read("a"); }), "record box/a cut off");
  EXPECT_HAS(error_of([&] { r.verify_checksums(); }), "record box/a cut off");
}

// Every record's CRC-32 is compared with its bytes, the whole file through.
TEST(ZipReader, VerifyChecksumsFindsAChangedByteInAnyRecord) {
  ZipWriter zip("box");
  zip.add("a", std::string("hello"));
  zip.add("data/0", std::string(10000, 'x'));
  std::string bytes = zip.finish();
  const std::string path = temp_path("verify.zip");
  write_bytes(path, bytes);
  ZipReader(path).verify_checksums();
  bytes[bytes.find(std::string(100, 'x')) + 5000] = 'y';
  write_bytes(path, bytes);
  EXPECT_HAS(error_of([&] { ZipReader(path).verify_checksums(); }),
             "zip record box/data/0 does not match its CRC-32 checksum");
}

TEST(TorchSaveBytes, LibTorchReadsWhatWeWrite) {
  struct Case {
    std::vector<int64_t> sizes;
    at::ScalarType dtype;
    ElementType type;
  };
  // Sizes past 255 and 65535 use the pickle's wider integer opcodes.
  const std::vector<Case> cases = {{{3, 4}, at::kFloat, ElementType::kFloat},
                                   {{5, 2}, at::kHalf, ElementType::kHalf},
                                   {{0, 7}, at::kFloat, ElementType::kFloat},
                                   {{300, 2}, at::kFloat, ElementType::kFloat},
                                   {{70000, 1}, at::kHalf, ElementType::kHalf},
                                   {{2, 3, 4}, at::kDouble, ElementType::kDouble}};
  for (const Case& c : cases) {
    SCOPED_TRACE(c.sizes.size() > 0 ? std::to_string(c.sizes[0]) : "");
    const at::Tensor t = at::randn(c.sizes, at::TensorOptions().dtype(c.dtype));
    const std::string bytes = torch_save_bytes(c.type, c.sizes, t.data_ptr());
    const c10::IValue back = torch::pickle_load(std::vector<char>(bytes.begin(), bytes.end()));
    ASSERT_TRUE(back.isTensor());
    EXPECT_EQ(back.toTensor().scalar_type(), c.dtype);
    EXPECT_EQ(back.toTensor().sizes(), t.sizes());
    EXPECT_TRUE(back.toTensor().equal(t));
  }
}

TEST(TorchFile, ReadsWhatLibTorchWritesViewsIncluded) {
  const at::Tensor base = at::arange(60, at::kFloat).view({5, 12});
  struct Case {
    const char* name;
    at::Tensor t;
  };
  // A transposed view at an offset, a strided slice, a 3-D permutation, a contiguous half
  // tensor and a scalar: torch::pickle_save keeps the storage, offset and strides.
  const std::vector<Case> cases = {
      {"transposed", base.narrow(0, 1, 3).narrow(1, 2, 4).t()},
      {"strided", base.slice(1, 0, 12, 3)},
      {"permuted", at::arange(24, at::kDouble).view({2, 3, 4}).permute({2, 0, 1})},
      {"half", at::randn({4, 3}).to(at::kHalf)},
      {"scalar", at::tensor(2.5f).reshape({})},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    const std::string path = temp_path(std::string(c.name) + ".pt");
    write_bytes(path, bytes_of(torch::pickle_save(c.t)));
    const TorchFile file(path);
    ASSERT_EQ(file.root().kind, PyValue::Kind::kTensor) << file.root().describe();
    const TensorRef& ref = *file.root().tensor;
    EXPECT_EQ(ref.sizes, c.t.sizes().vec());
    EXPECT_TRUE(read_back(file, ref, c.t.scalar_type()).equal(c.t.contiguous()));
  }
}

TEST(TorchFile, AViewPastItsStorageIsAnError) {
  // A 2 x 2 view of a 4-element storage whose stride reaches element 5.
  const at::Tensor t = at::arange(4, at::kFloat);
  std::string bytes = torch_save_bytes(ElementType::kFloat, {4}, t.data_ptr());
  const std::string path = temp_path("ok.pt");
  write_bytes(path, bytes);
  TorchFile file(path);
  TensorRef bad = *file.root().tensor;
  bad.sizes = {2, 2};
  bad.strides = {3, 2};
  std::vector<float> out(4);
  EXPECT_HAS(error_of([&] { file.read_contiguous(bad, "bad", out.data()); }),
             "reach past its storage");
}

TEST(TorchFile, ACutPickleNamesTheByte) {
  const at::Tensor t = at::ones({2, 2});
  const std::string pickle = bytes_of(torch::pickle_save(t));
  // Rebuild the archive around a pickle cut in half.
  const std::string path = temp_path("whole.pt");
  write_bytes(path, pickle);
  const std::string data_pkl = ZipReader(path).read("data.pkl");
  ZipWriter zip("archive");
  zip.add("data.pkl", data_pkl.substr(0, data_pkl.size() / 2));
  const std::string cut = temp_path("cut.pt");
  write_bytes(cut, zip.finish());
  const std::string e = error_of([&] { TorchFile f(cut); });
  EXPECT_HAS(e, cut + ": cannot read its pickle (data.pkl): unexpected end at byte ");
}

// Found by the fuzzer (tests/fuzz/fuzz_pickle.cc): a list that holds itself, and a nest
// deep enough to overflow the stack when freed, are one error each and leak nothing.
TEST(Pickle, ACycleAndAHostileNestAreRefused) {
  // PROTO 2, EMPTY_LIST, BINPUT 0, BINGET 0, APPEND, STOP: l = []; l.append(l)
  const std::string cycle = std::string("\x80\x02]q\x00" "h\x00" "a.", 9);
  EXPECT_HAS(error_of([&] { unpickle(cycle, "cycle.pkl"); }), "cycle.pkl: the pickle's values contain themselves");
  // The same cycle left in the memo while the pickle returns None: still refused (and freed).
  const std::string hidden = std::string("\x80\x02]q\x00" "h\x00" "a0N.", 11);
  EXPECT_HAS(error_of([&] { unpickle(hidden, "hidden.pkl"); }), "contain themselves");
  std::string nest = "\x80\x02";
  for (int i = 0; i < 5000; ++i) nest += ']';
  for (int i = 0; i < 4999; ++i) nest += 'a';
  nest += '.';
  EXPECT_HAS(error_of([&] { unpickle(nest, "nest.pkl"); }), "nests values more than 1000 deep");
  std::string fine = "\x80\x02";
  for (int i = 0; i < 50; ++i) fine += ']';
  for (int i = 0; i < 49; ++i) fine += 'a';
  fine += '.';
  EXPECT_EQ(unpickle(fine, "fine.pkl")->kind, PyValue::Kind::kList);
}

}  // namespace
}  // namespace asl::serialize
