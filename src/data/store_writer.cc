// The feature store's writer: clips into K shards, nothing visible until commit (docs/store.md).
#include "data/store.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <iomanip>
#include <limits>
#include <random>
#include <sstream>
#include <unordered_map>
#include <unordered_set>

#include "data/half_batch.h"
#include "core/crc32c.h"
#include "core/error.h"
#include "core/fs.h"
#include "core/strings.h"
#include "data/store_format.h"

namespace asl::data {
namespace {

namespace fs = std::filesystem;
using h5::Handle;
using namespace store_format;

// A chunk holds up to this many bytes of whole rows. A clip's stream (900 x 2304 f32 is
// 8 MiB) is then one chunk: reading a clip is one contiguous read per stream, which HDF5
// does straight into the caller's buffer. Smaller chunks measured slower (docs/store.md).
constexpr int64_t kMaxChunkBytes = 16 << 20;

// Stable across machines and compilers (std::hash is not): FNV-1a, 64 bits.
uint64_t fnv1a(const std::string& s) {
  uint64_t h = 1469598103934665603ull;
  for (const unsigned char c : s) {
    h ^= c;
    h *= 1099511628211ull;
  }
  return h;
}

// Names that HDF5 would split or refuse as link names.
void check_link_name(const std::string& name, const std::string& what, const std::string& where) {
  if (name.empty() || name == "." || name.find('/') != std::string::npos ||
      name.find('\0') != std::string::npos) {
    throw Error(where, what + " '" + name + "' cannot name an HDF5 group or dataset",
                "use a non-empty name without '/'");
  }
}

// Shard files named in the index at `path`, if `path` is a sharded store; empty otherwise.
// Used to remove the shards of a store that a new one replaces. Never throws.
std::vector<std::string> old_shard_files(const std::string& path) {
  if (!path_exists(path)) return {};
  try {
    h5::Lock lock;
    if (H5Fis_hdf5(path.c_str()) <= 0) return {};
    Handle file(H5Fopen(path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT), H5Fclose);
    if (!file.valid()) return {};
    std::string format;
    std::vector<std::string> shards;
    if (!h5::read_string_attr(file.get(), kAttrFormat, format) || format != kFormat) return {};
    h5::read_strings_attr(file.get(), kAttrShardFiles, shards);
    return shards;
  } catch (const std::exception&) {
    return {};
  }
}

std::string random_token() {
  std::random_device rd;
  std::ostringstream s;
  s << std::hex << std::setw(8) << std::setfill('0') << rd();
  return s.str();
}

}  // namespace

struct StoreWriter::Impl {
  struct Shard {
    std::unique_ptr<AtomicFile> file;  // temporary name until commit()
    Handle h5;
    std::string name;                  // final file name (no folder)
    int64_t clips = 0;
    Handle text;                       // the text group, once a query text is written
    int64_t texts = 0;
  };

  std::string path;
  std::vector<StreamInfo> streams;
  DType dtype = DType::F16;
  bool checksums = true;
  std::string source;
  std::vector<Shard> shards;
  std::vector<std::string> clip_ids;  // write order
  std::vector<int64_t> clip_shard;
  std::unordered_set<std::string> seen;
  int64_t text_dim = 0;                // 0 until the first query text
  std::vector<std::string> text_keys;  // write order
  std::vector<int64_t> text_shard;
  std::unordered_set<std::string> text_seen;
  std::vector<std::string> renamed;   // shard files already moved into place by commit()
  Handle file_half, mem_half;
  bool committed = false;
  std::string failure;  // an HDF5 write failed: the files may hold part of a clip

  ~Impl() {
    h5::Lock lock;
    for (auto& s : shards) {
      s.text.reset();
      s.h5.reset();
    }
    file_half.reset();
    mem_half.reset();
    if (!committed) {
      for (const auto& r : renamed) std::remove(r.c_str());
    }
    // The AtomicFiles remove their temporary files as they go.
  }

  void write_dataset(hid_t loc, const std::string& name, const FeatureMatrix& m,
                     const std::vector<uint16_t>& halves, const std::string& where);

  std::string shard_target(size_t i) const {
    if (shards.size() == 1) return path;
    return (fs::path(path).parent_path() / shards[i].name).string();
  }
};

StoreWriter::StoreWriter(const std::string& path, std::vector<StreamInfo> streams, DType dtype,
                         std::string source, int64_t num_shards, bool checksums)
    : impl_(std::make_unique<Impl>()) {
  Impl& w = *impl_;
  w.path = path;
  w.checksums = checksums;
  w.dtype = dtype;
  w.source = std::move(source);
  if (streams.empty()) throw Error(path, "a store needs at least one feature stream");
  std::unordered_set<std::string> names;
  for (const auto& s : streams) {
    check_link_name(s.name, "stream name", path);
    if (!names.insert(s.name).second) throw Error(path, "stream '" + s.name + "' given twice");
    if (s.dim <= 0) {
      throw Error(path, "stream '" + s.name + "' has dimension " + std::to_string(s.dim),
                  "a dimension must be positive");
    }
  }
  if (num_shards < 1 || num_shards > 100000) {
    throw Error(path, "cannot split a store into " + std::to_string(num_shards) + " shards",
                "use between 1 and 100000 shards");
  }
  w.streams = std::move(streams);

  // Shard files carry a random token so that they never overwrite the shards of a store
  // already at `path`, which stays readable until the new index replaces it.
  const fs::path p(path);
  const std::string stem = p.stem().string(), ext = p.has_extension() ? p.extension().string() : ".h5";
  const std::string token = random_token();
  w.shards.resize(static_cast<size_t>(num_shards));
  for (size_t i = 0; i < w.shards.size(); ++i) {
    w.shards[i].name = num_shards == 1 ? p.filename().string()
                                       : stem + "-" + token + "-shard" + std::to_string(i) + ext;
    w.shards[i].file = std::make_unique<AtomicFile>(w.shard_target(i));
  }
  h5::Lock lock;
  try {
    w.file_half = h5::half_type(H5T_ORDER_LE);
    w.mem_half = mem_half_type();
  } catch (const h5::Failure& e) {
    throw Error(path, e.what());
  }
  for (auto& s : w.shards) s.h5 = create_h5_file(s.file->temp_path(), s.file->target());
}

StoreWriter::~StoreWriter() = default;

namespace {

// Checks one matrix before anything is written (its dimension is the caller's check): rows,
// size, finiteness and, for float16, the half range; fills `halves` for float16.
void check_matrix(const FeatureMatrix& m, DType dtype, const std::string& where,
                  const char* no_rows, std::vector<uint16_t>& halves) {
  if (m.rows <= 0) throw Error(where, no_rows);
  if (m.values.size() != static_cast<size_t>(m.rows * m.cols)) {
    throw Error(where, "feature matrix holds " + std::to_string(m.values.size()) +
                           " values for " + std::to_string(m.rows) + " x " +
                           std::to_string(m.cols));
  }
  for (size_t i = 0; i < m.values.size(); ++i) {
    if (!std::isfinite(m.values[i])) {
      const int64_t t = static_cast<int64_t>(i) / m.cols, d = static_cast<int64_t>(i) % m.cols;
      throw Error(where, std::string(std::isnan(m.values[i]) ? "NaN" : "Inf") + " at t=" +
                             std::to_string(t) + " d=" + std::to_string(d),
                  "fix or re-extract the features");
    }
  }
  if (dtype == DType::F16) {
    halves.resize(m.values.size());
    floats_to_halves(m.values.data(), halves.data(), halves.size());
    for (size_t i = 0; i < halves.size(); ++i) {
      if ((halves[i] & 0x7c00u) == 0x7c00u) {  // finite input rounded to Inf
        throw Error(where, "value " + std::to_string(m.values[i]) + " at t=" +
                               std::to_string(static_cast<int64_t>(i) / m.cols) + " d=" +
                               std::to_string(static_cast<int64_t>(i) % m.cols) +
                               " does not fit float16 (largest 65504)",
                    "pack with --dtype f32");
      }
    }
  }
}

}  // namespace

// One chunked dataset NAME under LOC holding `m` (or its float16 `halves`) and its checksum.
// A failure poisons the writer (failure = where) before it throws. Under Lock.
void StoreWriter::Impl::write_dataset(hid_t loc, const std::string& name, const FeatureMatrix& m,
                                      const std::vector<uint16_t>& halves,
                                      const std::string& where) {
  const size_t elem = dtype == DType::F16 ? 2 : 4;
  const hsize_t dims[2] = {static_cast<hsize_t>(m.rows), static_cast<hsize_t>(m.cols)};
  const int64_t row_bytes = m.cols * static_cast<int64_t>(elem);
  const hsize_t chunk[2] = {
      static_cast<hsize_t>(std::clamp<int64_t>(kMaxChunkBytes / row_bytes, 1, m.rows)), dims[1]};
  Handle space(H5Screate_simple(2, dims, nullptr), H5Sclose);
  Handle dcpl(H5Pcreate(H5P_DATASET_CREATE), H5Pclose);
  H5Pset_chunk(dcpl.get(), 2, chunk);
  H5Pset_fill_time(dcpl.get(), H5D_FILL_TIME_NEVER);  // every value is written below
  const hid_t file_type = dtype == DType::F16 ? file_half.get() : H5T_IEEE_F32LE;
  Handle ds(H5Dcreate2(loc, name.c_str(), file_type, space.get(), H5P_DEFAULT, dcpl.get(),
                       H5P_DEFAULT),
            H5Dclose);
  const herr_t rc =
      !ds.valid() ? -1
      : dtype == DType::F16
          ? H5Dwrite(ds.get(), mem_half.get(), H5S_ALL, H5S_ALL, H5P_DEFAULT, halves.data())
          : H5Dwrite(ds.get(), H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, m.values.data());
  if (rc < 0) {
    failure = where;
    throw Error(where, "cannot write the features: " + h5::last_error(),
                "check the free disk space");
  }
  if (checksums) {
    // The CRC-32C of the values as stored (little-endian), checked by the reader on every
    // read: bytes changed after packing (a bad disk, a bad copy) are an error naming the
    // clip instead of silent garbage. (HDF5's Fletcher-32 filter made reads 4x slower.)
    const uint32_t crc = dtype == DType::F16
                             ? crc32c(halves.data(), halves.size() * sizeof(halves[0]))
                             : crc32c(m.values.data(), m.values.size() * sizeof(float));
    try {
      h5::write_int_attr(ds.get(), kAttrChecksum, static_cast<int64_t>(crc));
    } catch (const h5::Failure& e) {
      failure = where;
      throw Error(where, std::string("cannot write the checksum: ") + e.what(),
                  "check the free disk space");
    }
  }
}

void StoreWriter::write_clip(const std::string& clip_id,
                             const std::vector<FeatureMatrix>& per_stream) {
  Impl& w = *impl_;
  if (w.committed) throw Error(w.path, "clip " + clip_id + " written after commit()");
  if (!w.failure.empty()) {
    throw Error(w.path, "clip " + clip_id + " not written: writing " + w.failure + " failed");
  }
  check_link_name(clip_id, "clip id", w.path);
  if (w.seen.count(clip_id)) {
    throw Error(clip_where(w.path, clip_id), "clip written twice", "each clip id must be unique");
  }
  if (clip_id == kTextGroup && !w.text_keys.empty()) {
    throw Error(clip_where(w.path, clip_id),
                "a clip cannot be named 'text' in a store with query text features (the "
                "text group has that name)",
                "rename the clip");
  }
  if (per_stream.size() != w.streams.size()) {
    throw Error(clip_where(w.path, clip_id),
                "got " + std::to_string(per_stream.size()) + " feature matrices for " +
                    std::to_string(w.streams.size()) + " streams");
  }

  // Check and convert outside the HDF5 lock.
  std::vector<std::vector<uint16_t>> halves(per_stream.size());
  for (size_t s = 0; s < per_stream.size(); ++s) {
    const FeatureMatrix& m = per_stream[s];
    const StreamInfo& stream = w.streams[s];
    const std::string where = stream_where(w.path, clip_id, stream.name);
    if (m.cols != stream.dim) {
      throw Error(where, "features have " + std::to_string(m.cols) + " channels, the stream has " +
                             std::to_string(stream.dim),
                  "every clip of a stream needs the same dimension");
    }
    check_matrix(m, w.dtype, where, "features have no time steps", halves[s]);
  }

  const size_t shard = static_cast<size_t>(fnv1a(clip_id) % w.shards.size());
  Impl::Shard& sh = w.shards[shard];
  const std::string& target = sh.file->target();
  {
    h5::Lock lock;
    Handle group(H5Gcreate2(sh.h5.get(), clip_id.c_str(), H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT),
                 H5Gclose);
    if (!group.valid()) {
      w.failure = clip_where(target, clip_id);
      throw Error(w.failure, "cannot create the clip's group: " + h5::last_error(),
                  "check the free disk space");
    }
    for (size_t s = 0; s < per_stream.size(); ++s) {
      w.write_dataset(group.get(), w.streams[s].name, per_stream[s], halves[s],
                      stream_where(target, clip_id, w.streams[s].name));
    }
  }
  w.seen.insert(clip_id);
  w.clip_ids.push_back(clip_id);
  w.clip_shard.push_back(static_cast<int64_t>(shard));
  ++sh.clips;
}

void StoreWriter::write_text(const std::string& key, const FeatureMatrix& tokens) {
  Impl& w = *impl_;
  if (w.committed) throw Error(w.path, "query text " + key + " written after commit()");
  if (!w.failure.empty()) {
    throw Error(w.path, "query text " + key + " not written: writing " + w.failure + " failed");
  }
  if (key.empty() || key == "." || key.find('/') != std::string::npos ||
      key.find('\0') != std::string::npos) {
    throw Error(w.path, "query key '" + key + "' cannot name a dataset of the text group",
                "query keys are <clip_uid>_<annotation_uid>_<query_idx>: not empty, not '.', "
                "without '/'");
  }
  const std::string where = text_where(w.path, key);
  if (w.text_seen.count(key)) {
    throw Error(where, "query text written twice", "each query key must be unique");
  }
  if (w.seen.count(kTextGroup)) {
    throw Error(where, "the store has a clip named 'text', the name of the query text group",
                "rename the clip");
  }
  if (tokens.cols <= 0) {
    throw Error(where, "text features have " + std::to_string(tokens.cols) + " channels",
                "a dimension must be positive");
  }
  if (w.text_dim > 0 && tokens.cols != w.text_dim) {
    throw Error(where, "text features have " + std::to_string(tokens.cols) +
                           " channels, the store's text features have " +
                           std::to_string(w.text_dim) + " (as in query " + w.text_keys.front() +
                           ")",
                "every query's text features need the same dimension");
  }
  std::vector<uint16_t> halves;
  check_matrix(tokens, w.dtype, where, "text features have no tokens", halves);

  const size_t shard = static_cast<size_t>(fnv1a(key) % w.shards.size());
  Impl::Shard& sh = w.shards[shard];
  {
    h5::Lock lock;
    if (w.text_keys.empty()) {  // every file of the store gets the group
      for (auto& s : w.shards) {
        s.text = create_text_group(s.h5.get());
        if (!s.text.valid()) {
          w.failure = s.file->target() + ", text group";
          throw Error(w.failure, "cannot create the query text group: " + h5::last_error(),
                      "check the free disk space");
        }
      }
    }
    w.write_dataset(sh.text.get(), key, tokens, halves, text_where(sh.file->target(), key));
  }
  w.text_dim = tokens.cols;
  w.text_seen.insert(key);
  w.text_keys.push_back(key);
  w.text_shard.push_back(static_cast<int64_t>(shard));
  ++sh.texts;
}

void StoreWriter::commit() {
  Impl& w = *impl_;
  if (w.committed) return;
  if (!w.failure.empty()) {
    throw Error(w.path, "not committed: writing " + w.failure + " failed earlier",
                "fix the cause and pack again");
  }
  const bool sharded = w.shards.size() > 1;
  const int64_t num_shards = static_cast<int64_t>(w.shards.size());
  std::unique_ptr<AtomicFile> index;
  {
    h5::Lock lock;
    for (size_t i = 0; i < w.shards.size(); ++i) {
      Impl::Shard& s = w.shards[i];
      try {
        write_header(s.h5.get(), w.streams, w.dtype, w.source, s.clips, num_shards);
        if (w.text_dim > 0) write_text_header(s.h5.get(), w.text_dim, s.texts);
        if (sharded) h5::write_int_attr(s.h5.get(), kAttrShardIndex, static_cast<int64_t>(i));
      } catch (const h5::Failure& e) {
        throw Error(s.file->target(), std::string("cannot write the header: ") + e.what(),
                    "check the free disk space");
      }
      if (!s.text.reset() || !s.h5.reset()) {
        throw Error(s.file->target(), "cannot finish the file: " + h5::last_error(),
                    "check the free disk space");
      }
    }
    if (sharded) {
      index = std::make_unique<AtomicFile>(w.path);
      Handle file = create_h5_file(index->temp_path(), w.path);
      std::vector<std::string> names;
      for (const auto& s : w.shards) names.push_back(s.name);
      try {
        write_header(file.get(), w.streams, w.dtype, w.source,
                     static_cast<int64_t>(w.clip_ids.size()), num_shards);
        h5::write_strings_attr(file.get(), kAttrShardFiles, names);
        h5::write_strings_dataset(file.get(), kIndexClipIds, w.clip_ids);
        h5::write_ints_dataset(file.get(), kIndexClipShard, w.clip_shard);
        if (w.text_dim > 0) {
          write_text_header(file.get(), w.text_dim, static_cast<int64_t>(w.text_keys.size()));
          h5::write_strings_dataset(file.get(), kIndexTextKeys, w.text_keys);
          h5::write_ints_dataset(file.get(), kIndexTextShard, w.text_shard);
        }
      } catch (const h5::Failure& e) {
        throw Error(w.path, std::string("cannot write the shard index: ") + e.what(),
                    "check the free disk space");
      }
      if (!file.reset()) {
        throw Error(w.path, "cannot finish the shard index: " + h5::last_error(),
                    "check the free disk space");
      }
    }
  }

  // Shards first, the file at `path` last: until that rename the old store (or nothing)
  // is what a reader sees.
  const std::vector<std::string> replaced = old_shard_files(w.path);
  for (auto& s : w.shards) {
    if (sharded) {
      s.file->commit();
      w.renamed.push_back(s.file->target());
    }
  }
  if (sharded) {
    index->commit();
  } else {
    w.shards[0].file->commit();
  }
  w.committed = true;

  std::unordered_set<std::string> keep;
  for (const auto& s : w.shards) keep.insert(s.name);
  const fs::path folder = fs::path(w.path).parent_path();
  for (const auto& old : replaced) {
    if (old.find('/') == std::string::npos && !keep.count(old)) {
      std::remove((folder / old).string().c_str());
    }
  }
}

}  // namespace asl::data
