// The HDF5 feature store. Layout, sharding and atomicity: docs/store.md.
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

#include "core/error.h"
#include "core/fs.h"
#include "data/half_batch.h"
#include "data/hdf5_file.h"

namespace asl::data {
namespace {

namespace fs = std::filesystem;
using h5::Handle;

constexpr const char* kFormat = "ego4d-asl-feature-store";
constexpr int64_t kVersion = 1;

// Root attributes (every file) and the shard index's own attribute and datasets.
constexpr const char* kAttrFormat = "format";
constexpr const char* kAttrVersion = "version";
constexpr const char* kAttrStreams = "streams";
constexpr const char* kAttrDims = "dims";
constexpr const char* kAttrDtype = "dtype";
constexpr const char* kAttrSource = "source";
constexpr const char* kAttrNumClips = "num_clips";
constexpr const char* kAttrNumShards = "num_shards";
constexpr const char* kAttrShardIndex = "shard_index";
constexpr const char* kAttrShardFiles = "shard_files";
constexpr const char* kIndexClipIds = "clip_ids";
constexpr const char* kIndexClipShard = "clip_shard";

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

std::string join(const std::vector<std::string>& items, const std::string& sep) {
  std::string out;
  for (size_t i = 0; i < items.size(); ++i) out += (i ? sep : "") + items[i];
  return out;
}

std::string clip_where(const std::string& file, const std::string& clip_id) {
  return file + ", clip " + clip_id;
}

std::string stream_where(const std::string& file, const std::string& clip_id,
                         const std::string& stream) {
  return file + ", clip " + clip_id + ", stream " + stream;
}

// Names that HDF5 would split or refuse as link names.
void check_link_name(const std::string& name, const std::string& what, const std::string& where) {
  if (name.empty() || name == "." || name.find('/') != std::string::npos ||
      name.find('\0') != std::string::npos) {
    throw Error(where, what + " '" + name + "' cannot name an HDF5 group or dataset",
                "use a non-empty name without '/'");
  }
}

int64_t file_size(const std::string& path) {
  std::error_code ec;
  const auto n = fs::file_size(path, ec);
  return ec ? 0 : static_cast<int64_t>(n);
}

std::string human_bytes(double bytes) {
  const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  int u = 0;
  while (bytes >= 1024 && u < 4) {
    bytes /= 1024;
    ++u;
  }
  std::ostringstream s;
  s << std::fixed << std::setprecision(u == 0 ? 0 : 1) << bytes << " " << units[u];
  return s.str();
}

Handle mem_half_type() { return h5::half_type(H5Tget_order(H5T_NATIVE_FLOAT)); }

// The root attributes every file of a store carries.
void write_header(hid_t file, const std::vector<StreamInfo>& streams, DType dtype,
                  const std::string& source, int64_t num_clips, int64_t num_shards) {
  std::vector<std::string> names;
  std::vector<int64_t> dims;
  for (const auto& s : streams) {
    names.push_back(s.name);
    dims.push_back(s.dim);
  }
  h5::write_string_attr(file, kAttrFormat, kFormat);
  h5::write_int_attr(file, kAttrVersion, kVersion);
  h5::write_strings_attr(file, kAttrStreams, names);
  h5::write_ints_attr(file, kAttrDims, dims);
  h5::write_string_attr(file, kAttrDtype, dtype_name(dtype));
  h5::write_string_attr(file, kAttrSource, source);
  h5::write_int_attr(file, kAttrNumClips, num_clips);
  h5::write_int_attr(file, kAttrNumShards, num_shards);
}

// Creates an HDF5 file whose root group lists links in creation order (clips come back in
// the order they were packed). Format bounds 1.8: readable by every HDF5 since 1.8.
Handle create_h5_file(const std::string& temp_path, const std::string& target) {
  Handle fcpl(H5Pcreate(H5P_FILE_CREATE), H5Pclose);
  Handle fapl(H5Pcreate(H5P_FILE_ACCESS), H5Pclose);
  H5Pset_link_creation_order(fcpl.get(), H5P_CRT_ORDER_TRACKED | H5P_CRT_ORDER_INDEXED);
  H5Pset_libver_bounds(fapl.get(), H5F_LIBVER_V18, H5F_LIBVER_V18);
  Handle file(H5Fcreate(temp_path.c_str(), H5F_ACC_TRUNC, fcpl.get(), fapl.get()), H5Fclose);
  if (!file.valid()) {
    throw Error(target, "cannot create the store file: " + h5::last_error(),
                "check the folder's permissions and free space");
  }
  return file;
}

// Opens an existing store file read-only with a clear error for the usual failures.
Handle open_h5_file(const std::string& path) {
  if (!path_exists(path)) {
    throw Error(path, "no such store file", "check the path, or create the store with asl pack");
  }
  const htri_t is_h5 = H5Fis_hdf5(path.c_str());
  if (is_h5 <= 0) {
    throw Error(path, "not an HDF5 file (no HDF5 signature; damaged or another format)",
                "re-create the store with asl pack");
  }
  Handle file(H5Fopen(path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT), H5Fclose);
  if (!file.valid()) {
    throw Error(path, "cannot open the store: " + h5::last_error(),
                "the file is truncated or damaged; re-create it with asl pack");
  }
  return file;
}

// What the root attributes of one file say.
struct Header {
  StoreInfo info;
  int64_t shard_index = -1;               // shard files of a sharded store
  std::vector<std::string> shard_files;   // the index file only
};

Header read_header(hid_t file, const std::string& path) {
  const std::string damaged = "the file is truncated or damaged; re-create it with asl pack";
  Header h;
  StoreInfo& info = h.info;
  try {
    if (!h5::read_string_attr(file, kAttrFormat, info.format)) {
      throw Error(path, "not an ego4d-asl feature store (no 'format' attribute)",
                  "create one with asl pack");
    }
    if (info.format != kFormat) {
      throw Error(path, "not an ego4d-asl feature store (format attribute is '" + info.format +
                            "', expected '" + kFormat + "')",
                  "create one with asl pack");
    }
    if (!h5::read_int_attr(file, kAttrVersion, info.version)) {
      throw Error(path, "the store header has no 'version' attribute", damaged);
    }
    if (info.version != kVersion) {
      throw Error(path, "store format version " + std::to_string(info.version) +
                            " is not supported (this program reads version " +
                            std::to_string(kVersion) + ")",
                  "re-pack the features with this version of asl");
    }
    std::vector<std::string> names;
    std::vector<int64_t> dims;
    std::string dtype;
    if (!h5::read_strings_attr(file, kAttrStreams, names) ||
        !h5::read_ints_attr(file, kAttrDims, dims) ||
        !h5::read_string_attr(file, kAttrDtype, dtype) ||
        !h5::read_int_attr(file, kAttrNumClips, info.num_clips) ||
        !h5::read_int_attr(file, kAttrNumShards, info.num_shards)) {
      throw Error(path, "the store header lacks one of the attributes streams, dims, dtype, "
                        "num_clips, num_shards", damaged);
    }
    if (names.empty() || names.size() != dims.size()) {
      throw Error(path, "the store header names " + std::to_string(names.size()) +
                            " streams but gives " + std::to_string(dims.size()) + " dimensions",
                  damaged);
    }
    for (size_t i = 0; i < names.size(); ++i) info.streams.push_back({names[i], dims[i]});
    if (dtype != "f16" && dtype != "f32") {
      throw Error(path, "unknown dtype attribute '" + dtype + "' (expected f16 or f32)", damaged);
    }
    info.dtype = dtype == "f16" ? DType::F16 : DType::F32;
    h5::read_string_attr(file, kAttrSource, info.source);
    h5::read_int_attr(file, kAttrShardIndex, h.shard_index);
    h5::read_strings_attr(file, kAttrShardFiles, h.shard_files);
  } catch (const h5::Failure& e) {
    throw Error(path, std::string("cannot read the store header: ") + e.what(), damaged);
  }
  if (info.num_shards < 1 || info.num_clips < 0) {
    throw Error(path, "the store header has impossible counts (num_shards " +
                          std::to_string(info.num_shards) + ", num_clips " +
                          std::to_string(info.num_clips) + ")",
                damaged);
  }
  return h;
}

// Names of the root group's links, in creation order when the file tracks it (files this
// program writes do), else by name.
std::vector<std::string> root_links(hid_t file, const std::string& path) {
  Handle root(H5Gopen2(file, "/", H5P_DEFAULT), H5Gclose);
  Handle gcpl(root.valid() ? H5Gget_create_plist(root.get()) : -1, H5Pclose);
  unsigned order_flags = 0;
  if (gcpl.valid()) H5Pget_link_creation_order(gcpl.get(), &order_flags);
  const H5_index_t index =
      (order_flags & H5P_CRT_ORDER_INDEXED) ? H5_INDEX_CRT_ORDER : H5_INDEX_NAME;
  std::vector<std::string> names;
  auto collect = [](hid_t, const char* name, const H5L_info_t*, void* data) -> herr_t {
    static_cast<std::vector<std::string>*>(data)->emplace_back(name);
    return 0;
  };
  hsize_t idx = 0;
  if (!root.valid() || H5Literate(root.get(), index, H5_ITER_INC, &idx, collect, &names) < 0) {
    throw Error(path, "cannot list the clips: " + h5::last_error(),
                "the file is truncated or damaged; re-create it with asl pack");
  }
  return names;
}

int64_t root_link_count(hid_t file, const std::string& path) {
  H5G_info_t info;
  if (H5Gget_info(file, &info) < 0) {
    throw Error(path, "cannot list the clips: " + h5::last_error(),
                "the file is truncated or damaged; re-create it with asl pack");
  }
  return static_cast<int64_t>(info.nlinks);
}

bool same_layout(const StoreInfo& a, const StoreInfo& b) {
  if (a.dtype != b.dtype || a.streams.size() != b.streams.size()) return false;
  for (size_t i = 0; i < a.streams.size(); ++i) {
    if (a.streams[i].name != b.streams[i].name || a.streams[i].dim != b.streams[i].dim) {
      return false;
    }
  }
  return a.num_shards == b.num_shards;
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

// ---------------------------------------------------------------------------------------
// Writer

struct StoreWriter::Impl {
  struct Shard {
    std::unique_ptr<AtomicFile> file;  // temporary name until commit()
    Handle h5;
    std::string name;                  // final file name (no folder)
    int64_t clips = 0;
  };

  std::string path;
  std::vector<StreamInfo> streams;
  DType dtype = DType::F16;
  std::string source;
  std::vector<Shard> shards;
  std::vector<std::string> clip_ids;  // write order
  std::vector<int64_t> clip_shard;
  std::unordered_set<std::string> seen;
  std::vector<std::string> renamed;   // shard files already moved into place by commit()
  Handle file_half, mem_half;
  bool committed = false;
  std::string failure;  // an HDF5 write failed: the files may hold part of a clip

  ~Impl() {
    h5::Lock lock;
    for (auto& s : shards) s.h5.reset();
    file_half.reset();
    mem_half.reset();
    if (!committed) {
      for (const auto& r : renamed) std::remove(r.c_str());
    }
    // The AtomicFiles remove their temporary files as they go.
  }

  std::string shard_target(size_t i) const {
    if (shards.size() == 1) return path;
    return (fs::path(path).parent_path() / shards[i].name).string();
  }
};

StoreWriter::StoreWriter(const std::string& path, std::vector<StreamInfo> streams, DType dtype,
                         std::string source, int64_t num_shards)
    : impl_(std::make_unique<Impl>()) {
  Impl& w = *impl_;
  w.path = path;
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
  if (per_stream.size() != w.streams.size()) {
    throw Error(clip_where(w.path, clip_id),
                "got " + std::to_string(per_stream.size()) + " feature matrices for " +
                    std::to_string(w.streams.size()) + " streams");
  }

  // Check and convert outside the HDF5 lock.
  std::vector<std::vector<uint16_t>> halves(w.dtype == DType::F16 ? per_stream.size() : 0);
  for (size_t s = 0; s < per_stream.size(); ++s) {
    const FeatureMatrix& m = per_stream[s];
    const StreamInfo& stream = w.streams[s];
    const std::string where = stream_where(w.path, clip_id, stream.name);
    if (m.cols != stream.dim) {
      throw Error(where, "features have " + std::to_string(m.cols) + " channels, the stream has " +
                             std::to_string(stream.dim),
                  "every clip of a stream needs the same dimension");
    }
    if (m.rows <= 0) throw Error(where, "features have no time steps");
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
    if (w.dtype == DType::F16) {
      auto& h = halves[s];
      h.resize(m.values.size());
      floats_to_halves(m.values.data(), h.data(), h.size());
      for (size_t i = 0; i < h.size(); ++i) {
        if ((h[i] & 0x7c00u) == 0x7c00u) {  // finite input rounded to Inf
          throw Error(where, "value " + std::to_string(m.values[i]) + " at t=" +
                                 std::to_string(static_cast<int64_t>(i) / m.cols) + " d=" +
                                 std::to_string(static_cast<int64_t>(i) % m.cols) +
                                 " does not fit float16 (largest 65504)",
                      "pack with --dtype f32");
        }
      }
    }
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
    const size_t elem = w.dtype == DType::F16 ? 2 : 4;
    for (size_t s = 0; s < per_stream.size(); ++s) {
      const FeatureMatrix& m = per_stream[s];
      const hsize_t dims[2] = {static_cast<hsize_t>(m.rows), static_cast<hsize_t>(m.cols)};
      const int64_t row_bytes = m.cols * static_cast<int64_t>(elem);
      const hsize_t chunk[2] = {
          static_cast<hsize_t>(std::clamp<int64_t>(kMaxChunkBytes / row_bytes, 1, m.rows)),
          dims[1]};
      Handle space(H5Screate_simple(2, dims, nullptr), H5Sclose);
      Handle dcpl(H5Pcreate(H5P_DATASET_CREATE), H5Pclose);
      H5Pset_chunk(dcpl.get(), 2, chunk);
      H5Pset_fill_time(dcpl.get(), H5D_FILL_TIME_NEVER);  // every value is written below
      const hid_t file_type = w.dtype == DType::F16 ? w.file_half.get() : H5T_IEEE_F32LE;
      Handle ds(H5Dcreate2(group.get(), w.streams[s].name.c_str(), file_type, space.get(),
                           H5P_DEFAULT, dcpl.get(), H5P_DEFAULT),
                H5Dclose);
      const herr_t rc =
          !ds.valid() ? -1
          : w.dtype == DType::F16
              ? H5Dwrite(ds.get(), w.mem_half.get(), H5S_ALL, H5S_ALL, H5P_DEFAULT,
                         halves[s].data())
              : H5Dwrite(ds.get(), H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT,
                         m.values.data());
      if (rc < 0) {
        w.failure = stream_where(target, clip_id, w.streams[s].name);
        throw Error(w.failure, "cannot write the features: " + h5::last_error(),
                    "check the free disk space");
      }
    }
  }
  w.seen.insert(clip_id);
  w.clip_ids.push_back(clip_id);
  w.clip_shard.push_back(static_cast<int64_t>(shard));
  ++sh.clips;
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
        if (sharded) h5::write_int_attr(s.h5.get(), kAttrShardIndex, static_cast<int64_t>(i));
      } catch (const h5::Failure& e) {
        throw Error(s.file->target(), std::string("cannot write the header: ") + e.what(),
                    "check the free disk space");
      }
      if (!s.h5.reset()) {
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

// ---------------------------------------------------------------------------------------
// Reader

struct StoreReader::Impl {
  std::string path;
  StoreInfo info;
  std::vector<std::string> shard_paths;  // data files; shard_paths[0] == path when unsharded
  std::vector<Handle> shard_files;
  std::vector<std::string> order;        // clip ids as packed
  std::unordered_map<std::string, int32_t> shard_of;
  Handle mem_half;

  ~Impl() {
    h5::Lock lock;
    shard_files.clear();
    mem_half.reset();
  }

  int32_t find_shard(const std::string& clip_id) const {
    const auto it = shard_of.find(clip_id);
    if (it == shard_of.end()) {
      throw Error(clip_where(path, clip_id), "clip is not in the store (" +
                                                 std::to_string(order.size()) + " clips)",
                  "check the clip id, or re-pack the store from the annotations you use");
    }
    return it->second;
  }

  void open(const std::string& store_path) {
    path = store_path;
    h5::Lock lock;
    mem_half = mem_half_type();
    Handle first = open_h5_file(path);
    Header head = read_header(first.get(), path);
    info = head.info;
    if (head.shard_files.empty()) {
      if (info.num_shards != 1) {
        throw Error(path, "this is shard " + std::to_string(head.shard_index) + " of a " +
                              std::to_string(info.num_shards) + "-shard store",
                    "open the store's index file instead");
      }
      order = root_links(first.get(), path);
      if (static_cast<int64_t>(order.size()) != info.num_clips) {
        throw Error(path, "holds " + std::to_string(order.size()) + " clips but its header says " +
                              std::to_string(info.num_clips),
                    "the file is incomplete or damaged; re-create it with asl pack");
      }
      for (const auto& id : order) shard_of.emplace(id, 0);
      shard_paths = {path};
      shard_files.push_back(std::move(first));
      return;
    }
    open_shards(first.get(), head);
  }

  void open_shards(hid_t index, const Header& head) {
    const std::string damaged = "the index is damaged; re-create the store with asl pack";
    if (static_cast<int64_t>(head.shard_files.size()) != info.num_shards) {
      throw Error(path, "the index lists " + std::to_string(head.shard_files.size()) +
                            " shard files for " + std::to_string(info.num_shards) + " shards",
                  damaged);
    }
    std::vector<int64_t> table;
    try {
      if (!h5::read_strings_dataset(index, kIndexClipIds, order) ||
          !h5::read_ints_dataset(index, kIndexClipShard, table)) {
        throw Error(path, "the index has no clip table", damaged);
      }
    } catch (const h5::Failure& e) {
      throw Error(path, std::string("cannot read the clip table: ") + e.what(), damaged);
    }
    if (order.size() != table.size() || static_cast<int64_t>(order.size()) != info.num_clips) {
      throw Error(path, "the clip table has " + std::to_string(order.size()) + " ids and " +
                            std::to_string(table.size()) + " shard numbers for " +
                            std::to_string(info.num_clips) + " clips",
                  damaged);
    }
    std::vector<int64_t> per_shard(static_cast<size_t>(info.num_shards), 0);
    for (size_t i = 0; i < order.size(); ++i) {
      if (table[i] < 0 || table[i] >= info.num_shards) {
        throw Error(clip_where(path, order[i]),
                    "shard number " + std::to_string(table[i]) + " out of range", damaged);
      }
      shard_of.emplace(order[i], static_cast<int32_t>(table[i]));
      ++per_shard[static_cast<size_t>(table[i])];
    }
    const fs::path folder = fs::path(path).parent_path();
    for (size_t i = 0; i < head.shard_files.size(); ++i) {
      const std::string& name = head.shard_files[i];
      const std::string shard_path = (folder / name).string();
      if (name.empty() || name.find('/') != std::string::npos) {
        throw Error(path, "bad shard file name '" + name + "'", damaged);
      }
      if (!path_exists(shard_path)) {
        throw Error(shard_path, "shard " + std::to_string(i) + " of the store " + path +
                                    " is missing",
                    "the store is incomplete; re-create it with asl pack");
      }
      Handle file = open_h5_file(shard_path);
      const Header sh = read_header(file.get(), shard_path);
      if (!same_layout(sh.info, info) || sh.shard_index != static_cast<int64_t>(i) ||
          !sh.shard_files.empty()) {
        throw Error(shard_path, "does not match the index " + path + " (streams, dtype or shard "
                                "number differ)",
                    "the store was mixed with another one; re-create it with asl pack");
      }
      const int64_t links = root_link_count(file.get(), shard_path);
      if (sh.info.num_clips != per_shard[i] || links != per_shard[i]) {
        throw Error(shard_path, "holds " + std::to_string(links) + " clips, the index expects " +
                                    std::to_string(per_shard[i]),
                    "the store is incomplete or damaged; re-create it with asl pack");
      }
      shard_paths.push_back(shard_path);
      shard_files.push_back(std::move(file));
    }
  }

  // Opens clip/stream; checks it is a 2-D float dataset of the stream's dimension. Under Lock.
  Handle open_dataset(const std::string& clip_id, int64_t stream, int64_t& rows,
                      size_t& elem) const {
    const int32_t shard = find_shard(clip_id);
    const std::string& file_path = shard_paths[static_cast<size_t>(shard)];
    const hid_t file = shard_files[static_cast<size_t>(shard)].get();
    const StreamInfo& si = info.streams[static_cast<size_t>(stream)];
    const std::string where = stream_where(file_path, clip_id, si.name);
    const std::string name = clip_id + "/" + si.name;
    Handle ds(H5Dopen2(file, name.c_str(), H5P_DEFAULT), H5Dclose);
    if (!ds.valid()) {
      const std::string detail = h5::last_error();
      if (H5Lexists(file, clip_id.c_str(), H5P_DEFAULT) <= 0) {
        throw Error(clip_where(file_path, clip_id), "the clip's group is missing: " + detail,
                    "the file is damaged; re-create it with asl pack");
      }
      throw Error(where, "the stream's dataset is missing or unreadable: " + detail,
                  "the file is damaged; re-create it with asl pack");
    }
    Handle space(H5Dget_space(ds.get()), H5Sclose);
    Handle type(H5Dget_type(ds.get()), H5Tclose);
    hsize_t dims[2] = {0, 0};
    const int rank = space.valid() ? H5Sget_simple_extent_ndims(space.get()) : -1;
    if (rank != 2) {
      throw Error(where, "the dataset has " + std::to_string(rank) + " dimensions, expected 2 (T x D)",
                  "the file is damaged; re-create it with asl pack");
    }
    H5Sget_simple_extent_dims(space.get(), dims, nullptr);
    if (static_cast<int64_t>(dims[1]) != si.dim) {
      throw Error(where, "the dataset is " + std::to_string(dims[0]) + " x " +
                             std::to_string(dims[1]) + ", the stream's dimension is " +
                             std::to_string(si.dim),
                  "the file is damaged; re-create it with asl pack");
    }
    elem = type.valid() && H5Tget_class(type.get()) == H5T_FLOAT ? H5Tget_size(type.get()) : 0;
    if (elem != 2 && elem != 4) {
      throw Error(where, "the dataset is not float16 or float32",
                  "the file is damaged; re-create it with asl pack");
    }
    rows = static_cast<int64_t>(dims[0]);
    return ds;
  }

  FeatureMatrix read(const std::string& clip_id, int64_t stream) const {
    if (stream < 0 || stream >= static_cast<int64_t>(info.streams.size())) {
      throw Error(path, "stream number " + std::to_string(stream) + " out of range");
    }
    int64_t rows = 0;
    size_t elem = 0;
    Handle ds;
    {
      h5::Lock lock;
      ds = open_dataset(clip_id, stream, rows, elem);
    }
    // Allocated (and zeroed) without the lock, so that other threads can read meanwhile.
    FeatureMatrix m(rows, info.streams[static_cast<size_t>(stream)].dim);
    const bool halves = elem == 2;
    if (!m.values.empty()) {
      // float16: the raw half bits land in the back half of the output buffer and are
      // widened in place below, without the lock. HDF5's own float16 -> float conversion
      // is about 70x slower (docs/store.md).
      unsigned char* dest = reinterpret_cast<unsigned char*>(m.values.data());
      if (halves) dest += 2 * m.values.size();  // the last 2n of the 4n bytes
      h5::Lock lock;
      if (H5Dread(ds.get(), halves ? mem_half.get() : H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL,
                  H5P_DEFAULT, dest) < 0) {
        const int32_t shard = shard_of.at(clip_id);
        throw Error(stream_where(shard_paths[static_cast<size_t>(shard)], clip_id,
                                 info.streams[static_cast<size_t>(stream)].name),
                    "cannot read the features: " + h5::last_error(),
                    "the file is truncated or damaged; re-create it with asl pack");
      }
      ds.reset();
    }
    if (halves) expand_halves_in_place(m.values.data(), m.values.size());
    return m;
  }
};

StoreReader::StoreReader(const std::string& path) : impl_(std::make_unique<Impl>()) {
  impl_->open(path);
}

StoreReader::~StoreReader() = default;

const StoreInfo& StoreReader::info() const { return impl_->info; }

bool StoreReader::has_clip(const std::string& clip_id) const {
  return impl_->shard_of.count(clip_id) > 0;
}

std::vector<std::string> StoreReader::clip_ids() const { return impl_->order; }

int64_t StoreReader::stream_index(const std::string& name) const {
  const auto& streams = impl_->info.streams;
  for (size_t i = 0; i < streams.size(); ++i) {
    if (streams[i].name == name) return static_cast<int64_t>(i);
  }
  std::vector<std::string> names;
  for (const auto& s : streams) names.push_back(s.name);
  throw Error(impl_->path, "no feature stream '" + name + "' in the store",
              "its streams are: " + join(names, ", "));
}

FeatureMatrix StoreReader::read(const std::string& clip_id, int64_t stream) const {
  return impl_->read(clip_id, stream);
}

std::vector<FeatureMatrix> StoreReader::read_clip(const std::string& clip_id) const {
  std::vector<FeatureMatrix> out;
  out.reserve(impl_->info.streams.size());
  for (size_t s = 0; s < impl_->info.streams.size(); ++s) {
    out.push_back(impl_->read(clip_id, static_cast<int64_t>(s)));
  }
  return out;
}

int64_t StoreReader::rows(const std::string& clip_id, int64_t stream) const {
  if (stream < 0 || stream >= static_cast<int64_t>(impl_->info.streams.size())) {
    throw Error(impl_->path, "stream number " + std::to_string(stream) + " out of range");
  }
  h5::Lock lock;
  int64_t rows = 0;
  size_t elem = 0;
  impl_->open_dataset(clip_id, stream, rows, elem);
  return rows;
}

std::vector<std::string> StoreReader::files() const {
  std::vector<std::string> out;
  if (impl_->info.num_shards > 1) out.push_back(impl_->path);
  out.insert(out.end(), impl_->shard_paths.begin(), impl_->shard_paths.end());
  return out;
}

// ---------------------------------------------------------------------------------------
// verify / summarize

VerifyReport verify_store(const std::string& path) {
  StoreReader reader(path);
  const StoreInfo& info = reader.info();
  VerifyReport report;
  for (const auto& clip_id : reader.clip_ids()) {
    ++report.clips;
    for (size_t s = 0; s < info.streams.size(); ++s) {
      FeatureMatrix m;
      try {
        m = reader.read(clip_id, static_cast<int64_t>(s));
      } catch (const Error& e) {
        report.problems.push_back(e.what());
        continue;
      }
      ++report.datasets;
      report.values += static_cast<int64_t>(m.values.size());
      if (m.rows == 0) {
        report.problems.push_back("clip " + clip_id + " stream " + info.streams[s].name +
                                  ": no time steps");
      }
      int64_t nan = 0, inf = 0, first = -1;
      for (size_t i = 0; i < m.values.size(); ++i) {
        const float v = m.values[i];
        if (std::isfinite(v)) continue;
        (std::isnan(v) ? nan : inf) += 1;
        if (first < 0) first = static_cast<int64_t>(i);
      }
      if (first >= 0) {
        report.problems.push_back("clip " + clip_id + " stream " + info.streams[s].name + ": " +
                                  std::to_string(nan) + " NaN, " + std::to_string(inf) +
                                  " Inf, first at t=" + std::to_string(first / m.cols) +
                                  " d=" + std::to_string(first % m.cols));
      }
    }
  }
  return report;
}

std::string summarize_store(const std::string& path) {
  StoreReader reader(path);
  const StoreInfo& info = reader.info();
  const std::vector<std::string> ids = reader.clip_ids();
  std::ostringstream out;
  out << "store      " << path << "\n";
  out << "format     " << info.format << ", version " << info.version << "\n";
  out << "dtype      " << dtype_name(info.dtype) << "\n";
  out << "clips      " << info.num_clips << "\n";
  out << "streams    " << info.streams.size() << "\n";
  for (size_t s = 0; s < info.streams.size(); ++s) {
    int64_t lo = std::numeric_limits<int64_t>::max(), hi = 0, total = 0;
    for (const auto& id : ids) {
      const int64_t t = reader.rows(id, static_cast<int64_t>(s));
      lo = std::min(lo, t);
      hi = std::max(hi, t);
      total += t;
    }
    out << "  " << std::left << std::setw(16) << info.streams[s].name << std::right
        << std::setw(6) << info.streams[s].dim << " dims";
    if (!ids.empty()) {
      out << ", steps per clip " << lo << " to " << hi << " (mean " << std::fixed
          << std::setprecision(1) << static_cast<double>(total) / static_cast<double>(ids.size())
          << ")";
    }
    out << "\n";
  }
  const std::vector<std::string> files = reader.files();
  int64_t bytes = 0;
  for (const auto& f : files) bytes += file_size(f);
  if (info.num_shards > 1) {
    out << "shards     " << info.num_shards << " files next to the index:";
    for (size_t i = 1; i < files.size(); ++i) out << " " << fs::path(files[i]).filename().string();
    out << "\n";
  } else {
    out << "shards     1 (a single file)\n";
  }
  out << "size       " << human_bytes(static_cast<double>(bytes)) << " on disk\n";
  if (!info.source.empty()) out << "source     " << info.source << "\n";
  return out.str();
}

}  // namespace asl::data
