// The HDF5 feature store's reader (data/store.h): its header checks, the shard index (clip
// table, text table, shard files), the clip datasets and the query text group. Each input
// becomes a well-formed HDF5 store whose every attribute, table entry and dataset shape comes
// from the fuzzer's bytes, so the search spends its time in this project's checks. Raw bytes
// given to HDF5 as a file are not fuzzed here: HDF5 1.10 is not hardened against crafted files
// (such a run crashed inside its global heap reader within a minute; docs/reliability.md),
// and store files come from asl pack.
#include <fuzzer/FuzzedDataProvider.h>
#include <hdf5.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "core/error.h"
#include "data/hdf5_file.h"
#include "data/store.h"
#include "data/store_format.h"

namespace {

namespace fs = std::filesystem;
namespace h5 = asl::data::h5;
namespace sf = asl::data::store_format;

std::string small_string(FuzzedDataProvider& in, const std::vector<std::string>& usual) {
  if (in.ConsumeBool()) return usual[in.ConsumeIntegralInRange<size_t>(0, usual.size() - 1)];
  return in.ConsumeRandomLengthString(12);
}

int64_t small_int(FuzzedDataProvider& in, int64_t usual) {
  switch (in.ConsumeIntegralInRange<int>(0, 3)) {
    case 0:
    case 1: return usual;
    case 2: return in.ConsumeIntegralInRange<int64_t>(-2, 8);
    default: return in.ConsumeIntegral<int64_t>();
  }
}

// The root attributes of one file, each one right or fuzzed.
void write_header(FuzzedDataProvider& in, hid_t file, const std::vector<std::string>& streams,
                  const std::vector<int64_t>& dims, int64_t clips, int64_t shards) {
  if (in.ConsumeIntegralInRange<int>(0, 15) != 0) {
    h5::write_string_attr(file, sf::kAttrFormat, small_string(in, {sf::kFormat}));
  }
  h5::write_int_attr(file, sf::kAttrVersion, small_int(in, sf::kVersion));
  h5::write_strings_attr(file, sf::kAttrStreams, streams);
  h5::write_ints_attr(file, sf::kAttrDims, dims);
  h5::write_string_attr(file, sf::kAttrDtype, small_string(in, {"f16", "f32"}));
  h5::write_int_attr(file, sf::kAttrNumClips, small_int(in, clips));
  h5::write_int_attr(file, sf::kAttrNumShards, small_int(in, shards));
}

// One dataset NAME under LOC: shape, element type, checksum and values from the fuzzer
// (`dim` columns, or another number).
void write_dataset(FuzzedDataProvider& in, hid_t loc, const std::string& name, int64_t dim) {
  const hsize_t shape[3] = {in.ConsumeIntegralInRange<hsize_t>(0, 6),
                            in.ConsumeBool() ? static_cast<hsize_t>(std::max<int64_t>(0, std::min<int64_t>(dim, 64)))
                                             : in.ConsumeIntegralInRange<hsize_t>(0, 8),
                            2};
  const int rank = in.ConsumeIntegralInRange<int>(0, 7) == 0 ? in.ConsumeIntegralInRange<int>(1, 3) : 2;
  hid_t type = H5T_IEEE_F32LE;
  switch (in.ConsumeIntegralInRange<int>(0, 3)) {
    case 0: type = H5T_IEEE_F64LE; break;
    case 1: type = H5T_STD_I32LE; break;
    default: break;
  }
  h5::Handle space(H5Screate_simple(rank, shape, nullptr), H5Sclose);
  h5::Handle dcpl(H5Pcreate(H5P_DATASET_CREATE), H5Pclose);
  if (shape[0] > 0 && shape[1] > 0 && rank == 2 && in.ConsumeBool()) {
    const hsize_t chunk[2] = {shape[0], shape[1]};
    H5Pset_chunk(dcpl.get(), 2, chunk);
  }
  h5::Handle ds(H5Dcreate2(loc, name.c_str(), type, space.get(), H5P_DEFAULT, dcpl.get(),
                           H5P_DEFAULT),
                H5Dclose);
  if (!ds.valid()) return;
  if (in.ConsumeBool()) h5::write_int_attr(ds.get(), sf::kAttrChecksum, small_int(in, 0x1234));
  std::vector<float> values(static_cast<size_t>(shape[0] * shape[1] * (rank == 3 ? 2 : 1)));
  for (float& v : values) v = in.ConsumeFloatingPoint<float>();
  if (!values.empty()) {
    H5Dwrite(ds.get(), H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, values.data());
  }
}

// A clip group with one dataset per stream: shape and element type from the fuzzer.
void write_clip(FuzzedDataProvider& in, hid_t file, const std::string& clip,
                const std::vector<std::string>& streams, const std::vector<int64_t>& dims) {
  h5::Handle group(H5Gcreate2(file, clip.c_str(), H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT), H5Gclose);
  if (!group.valid()) return;
  for (size_t s = 0; s < streams.size(); ++s) {
    if (in.ConsumeIntegralInRange<int>(0, 15) == 0) continue;  // a missing stream
    write_dataset(in, group.get(), streams[s], dims[s]);
  }
}

// Query text features of one store file: the root attributes text_dim and num_texts, the
// text group (or a dataset, or nothing, in its place) and one dataset per key, each right or
// fuzzed.
void write_texts(FuzzedDataProvider& in, hid_t file, const std::vector<std::string>& keys,
                 int64_t dim) {
  if (in.ConsumeIntegralInRange<int>(0, 15) != 0) {
    h5::write_int_attr(file, sf::kAttrTextDim, small_int(in, dim));
  }
  if (in.ConsumeIntegralInRange<int>(0, 15) != 0) {
    h5::write_int_attr(file, sf::kAttrNumTexts, small_int(in, static_cast<int64_t>(keys.size())));
  }
  switch (in.ConsumeIntegralInRange<int>(0, 15)) {
    case 0: return;                                              // no text group
    case 1: write_dataset(in, file, sf::kTextGroup, dim); return;  // a dataset in its place
    default: break;
  }
  h5::Handle group = in.ConsumeBool()
                         ? sf::create_text_group(file)
                         : h5::Handle(H5Gcreate2(file, sf::kTextGroup, H5P_DEFAULT, H5P_DEFAULT,
                                                 H5P_DEFAULT),
                                      H5Gclose);
  if (!group.valid()) return;
  for (const std::string& key : keys) {
    switch (in.ConsumeIntegralInRange<int>(0, 15)) {
      case 0: continue;  // a missing query text
      case 1: {          // a group in place of the dataset
        h5::Handle g(H5Gcreate2(group.get(), key.c_str(), H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT),
                     H5Gclose);
        continue;
      }
      default: write_dataset(in, group.get(), key, dim);
    }
  }
}

// Query keys and their dimension, from the fuzzer (keys HDF5 refuses included).
std::vector<std::string> text_keys(FuzzedDataProvider& in, int64_t& dim) {
  dim = in.ConsumeIntegralInRange<int64_t>(1, 8);
  std::vector<std::string> keys;
  const int n = in.ConsumeIntegralInRange<int>(0, 4);
  for (int k = 0; k < n; ++k) {
    keys.push_back(small_string(in, {"c0_a0_0", "c0_a0_1", "c1_a1_0", "text", ".", "a/b", ""}));
  }
  return keys;
}

// Shard file names the generator can create next to the index (the reader is given the rest).
bool usable_shard_name(const std::string& name) {
  return !(name.empty() || name.find('/') != std::string::npos ||
           name.find('\0') != std::string::npos || name == "store.h5" || name == "." ||
           name == "..");
}

std::string structured_store(FuzzedDataProvider& in, const std::string& dir) {
  const int nstreams = in.ConsumeIntegralInRange<int>(0, 3);
  std::vector<std::string> streams;
  std::vector<int64_t> dims;
  for (int s = 0; s < nstreams; ++s) {
    streams.push_back(small_string(in, {"slowfast", "omnivore", "egovlp"}));
    dims.push_back(small_int(in, in.ConsumeIntegralInRange<int64_t>(1, 8)));
  }
  if (in.ConsumeIntegralInRange<int>(0, 7) == 0) dims.push_back(small_int(in, 4));
  const int nclips = in.ConsumeIntegralInRange<int>(0, 5);
  std::vector<std::string> clips;
  for (int c = 0; c < nclips; ++c) clips.push_back(small_string(in, {"clip-a", "clip-b", "clip-c"}));
  const int64_t shards = in.ConsumeIntegralInRange<int64_t>(1, 3);
  const std::string index_path = dir + "/store.h5";

  if (shards == 1) {
    h5::Handle file = sf::create_h5_file(index_path, index_path);
    write_header(in, file.get(), streams, dims, nclips, 1);
    for (const std::string& c : clips) write_clip(in, file.get(), c, streams, dims);
    // Query text features last: inputs that end before them make a store without text.
    if (in.ConsumeBool()) {
      int64_t text_dim = 0;
      const std::vector<std::string> keys = text_keys(in, text_dim);
      write_texts(in, file.get(), keys, text_dim);
    }
    return index_path;
  }
  std::vector<std::string> files;
  std::vector<int64_t> table;
  for (int64_t k = 0; k < shards; ++k) files.push_back(small_string(in, {"store-00000-of-00002.h5", "store-00001-of-00002.h5", "x/y.h5", ""}));
  for (size_t c = 0; c < clips.size(); ++c) table.push_back(small_int(in, static_cast<int64_t>(c) % shards));
  {
    h5::Handle index = sf::create_h5_file(index_path, index_path);
    write_header(in, index.get(), streams, dims, nclips, shards);
    h5::write_strings_attr(index.get(), sf::kAttrShardFiles, files);
    if (in.ConsumeIntegralInRange<int>(0, 15) != 0) {
      h5::write_strings_dataset(index.get(), sf::kIndexClipIds, clips);
      if (in.ConsumeIntegralInRange<int>(0, 7) == 0) table.push_back(in.ConsumeIntegral<int64_t>());
      h5::write_ints_dataset(index.get(), sf::kIndexClipShard, table);
    }
  }
  for (int64_t k = 0; k < shards; ++k) {
    const std::string& name = files[static_cast<size_t>(k)];
    if (!usable_shard_name(name)) continue;
    const std::string path = dir + "/" + name;
    h5::Handle shard = sf::create_h5_file(path, path);
    if (!shard.valid()) continue;
    int64_t mine = 0;
    for (size_t c = 0; c < clips.size(); ++c) mine += table[c] == k;
    write_header(in, shard.get(), streams, dims, mine, shards);
    h5::write_int_attr(shard.get(), sf::kAttrShardIndex, small_int(in, k));
    for (size_t c = 0; c < clips.size(); ++c) {
      if (table[c] == k || in.ConsumeIntegralInRange<int>(0, 15) == 0) {
        write_clip(in, shard.get(), clips[c], streams, dims);
      }
    }
  }
  // Query text features last (inputs that end before them make a store without text): the
  // index's text table, then each shard's text group with the keys the table gives it.
  if (!in.ConsumeBool()) return index_path;
  int64_t text_dim = 0;
  const std::vector<std::string> keys = text_keys(in, text_dim);
  std::vector<int64_t> text_table;
  for (size_t q = 0; q < keys.size(); ++q) {
    text_table.push_back(small_int(in, static_cast<int64_t>(q) % shards));
  }
  {
    h5::Handle index(H5Fopen(index_path.c_str(), H5F_ACC_RDWR, H5P_DEFAULT), H5Fclose);
    if (!index.valid()) return index_path;
    if (in.ConsumeIntegralInRange<int>(0, 15) != 0) {
      h5::write_int_attr(index.get(), sf::kAttrTextDim, small_int(in, text_dim));
    }
    if (in.ConsumeIntegralInRange<int>(0, 15) != 0) {
      h5::write_int_attr(index.get(), sf::kAttrNumTexts,
                         small_int(in, static_cast<int64_t>(keys.size())));
    }
    if (in.ConsumeIntegralInRange<int>(0, 15) != 0) {
      h5::write_strings_dataset(index.get(), sf::kIndexTextKeys, keys);
      std::vector<int64_t> table = text_table;
      if (in.ConsumeIntegralInRange<int>(0, 7) == 0) table.push_back(in.ConsumeIntegral<int64_t>());
      h5::write_ints_dataset(index.get(), sf::kIndexTextShard, table);
    }
  }
  for (int64_t k = 0; k < shards; ++k) {
    const std::string& name = files[static_cast<size_t>(k)];
    const std::string path = dir + "/" + name;
    if (!usable_shard_name(name) || !fs::is_regular_file(path)) continue;
    h5::Handle shard(H5Fopen(path.c_str(), H5F_ACC_RDWR, H5P_DEFAULT), H5Fclose);
    if (!shard.valid()) continue;
    std::vector<std::string> mine;
    for (size_t q = 0; q < keys.size(); ++q) {
      if (text_table[q] == k || in.ConsumeIntegralInRange<int>(0, 15) == 0) mine.push_back(keys[q]);
    }
    write_texts(in, shard.get(), mine, text_dim);
  }
  return index_path;
}

void read_everything(const std::string& path) {
  asl::data::StoreReader reader(path);
  for (const std::string& clip : reader.clip_ids()) {
    try {
      reader.read_clip(clip);
      reader.has_checksums(clip, 0);
    } catch (const asl::Error&) {
    }
  }
  for (const std::string& key : reader.text_keys()) {
    reader.has_text(key);
    try {
      reader.text_rows(key);
      reader.read_text(key);
    } catch (const asl::Error&) {
    }
  }
  try {
    reader.read_text("not-a-key");
  } catch (const asl::Error&) {
  }
  asl::data::summarize_store(path);
  asl::data::verify_store(path);
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string dir = "/tmp/asl_fuzz_store_" + std::to_string(getpid());
  fs::remove_all(dir);
  fs::create_directories(dir);
  try {
    FuzzedDataProvider in(data, size);
    std::string path;
    try {
      path = structured_store(in, dir);
    } catch (const std::exception&) {
      return 0;  // the generator could not write this one (e.g. a clip name HDF5 refuses)
    }
    read_everything(path);
  } catch (const asl::Error&) {
  }
  return 0;
}
