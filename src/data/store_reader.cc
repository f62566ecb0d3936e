// The feature store's reader: one file or a shard index; safe from several threads.
#include "data/store.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <iomanip>
#include <limits>
#include <optional>
#include <random>
#include <sstream>
#include <unordered_map>
#include <unordered_set>

#include "core/crc32c.h"
#include "data/half_batch.h"
#include "core/error.h"
#include "core/fs.h"
#include "core/strings.h"
#include "data/store_format.h"

namespace asl::data {
namespace {

namespace fs = std::filesystem;
using h5::Handle;
using namespace store_format;

const char* const kDamaged = "the file is damaged; re-create it with asl pack";

// Opens the object NAME under `file` if it is a group; an invalid handle when there is no such
// link; an error when it is something else. (H5Gopen2 on a dataset, as H5Dopen2 on a group,
// fails inside HDF5 without releasing what it read: open as any object, then check.)
Handle open_group(hid_t file, const char* name, const std::string& where) {
  if (H5Lexists(file, name, H5P_DEFAULT) <= 0) return Handle();
  Handle group(H5Oopen(file, name, H5P_DEFAULT), H5Oclose);
  if (!group.valid()) {
    throw Error(where, "cannot open the group: " + h5::last_error(), kDamaged);
  }
  if (H5Iget_type(group.get()) != H5I_GROUP) {
    throw Error(where, "is not a group (a dataset or another object)", kDamaged);
  }
  return group;
}

// Names of a group's links, in creation order when the group tracks it (files this program
// writes do), else by name. `what` says what they are ("clips", "query texts").
std::vector<std::string> group_links(hid_t group, const std::string& path, const char* what) {
  Handle gcpl(H5Gget_create_plist(group), H5Pclose);
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
  if (H5Literate(group, index, H5_ITER_INC, &idx, collect, &names) < 0) {
    throw Error(path, std::string("cannot list the ") + what + ": " + h5::last_error(),
                "the file is truncated or damaged; re-create it with asl pack");
  }
  return names;
}

std::vector<std::string> root_links(hid_t file, const std::string& path) {
  Handle root(H5Gopen2(file, "/", H5P_DEFAULT), H5Gclose);
  if (!root.valid()) {
    throw Error(path, "cannot list the clips: " + h5::last_error(),
                "the file is truncated or damaged; re-create it with asl pack");
  }
  return group_links(root.get(), path, "clips");
}

int64_t link_count(hid_t group, const std::string& path, const char* what) {
  H5G_info_t info;
  if (H5Gget_info(group, &info) < 0) {
    throw Error(path, std::string("cannot list the ") + what + ": " + h5::last_error(),
                "the file is truncated or damaged; re-create it with asl pack");
  }
  return static_cast<int64_t>(info.nlinks);
}

// A store file's text group when its header says it has query text features (text_dim > 0),
// checked to be there; an invalid handle for a store without text. Under Lock.
Handle open_text_group(hid_t file, const std::string& path, const StoreInfo& info) {
  if (info.text_dim <= 0) return Handle();
  Handle group = open_group(file, kTextGroup, path + ", text group");
  if (!group.valid()) {
    throw Error(path, "the header gives query text features (text_dim " +
                          std::to_string(info.text_dim) + ") but there is no text group",
                "the file is incomplete or damaged; re-create it with asl pack");
  }
  const int64_t n = link_count(group.get(), path, "query texts");
  if (n != info.num_texts) {
    throw Error(path, "holds " + std::to_string(n) + " query texts but its header says " +
                          std::to_string(info.num_texts),
                "the file is incomplete or damaged; re-create it with asl pack");
  }
  return group;
}

// Query keys name a dataset of the text group: not empty, not '.', no '/'.
bool valid_text_key(const std::string& key) {
  return !key.empty() && key != "." && key.find('/') == std::string::npos &&
         key.find('\0') == std::string::npos;
}

// How one kind of matrix is described in errors: a clip's stream or a query text.
struct MatrixKind {
  const char* object;  // "the stream", "the query text"
  const char* shape;   // "T x D", "L x D"
  const char* dim;     // "the stream's dimension", "the store's text dimension"
};
const MatrixKind kStreamKind{"the stream", "T x D", "the stream's dimension"};
const MatrixKind kTextKind{"the query text", "L x D", "the store's text dimension"};

// Checks that `ds` (opened with H5Oopen) is a 2-D float16/float32 dataset with `dim` columns
// and reads its checksum when asked (absent in stores packed before checksums). Under Lock.
void check_matrix_dataset(const Handle& ds, const std::string& where, int64_t dim,
                          const MatrixKind& kind, int64_t& rows, size_t& elem,
                          std::optional<uint32_t>* checksum) {
  if (H5Iget_type(ds.get()) != H5I_DATASET) {
    throw Error(where, std::string(kind.object) + " is not a dataset (a group or another object)",
                kDamaged);
  }
  Handle space(H5Dget_space(ds.get()), H5Sclose);
  Handle type(H5Dget_type(ds.get()), H5Tclose);
  hsize_t dims[2] = {0, 0};
  const int rank = space.valid() ? H5Sget_simple_extent_ndims(space.get()) : -1;
  if (rank != 2) {
    throw Error(where, "the dataset has " + std::to_string(rank) + " dimensions, expected 2 (" +
                           kind.shape + ")",
                kDamaged);
  }
  H5Sget_simple_extent_dims(space.get(), dims, nullptr);
  if (static_cast<int64_t>(dims[1]) != dim) {
    throw Error(where, "the dataset is " + std::to_string(dims[0]) + " x " +
                           std::to_string(dims[1]) + ", " + kind.dim + " is " +
                           std::to_string(dim),
                kDamaged);
  }
  elem = type.valid() && H5Tget_class(type.get()) == H5T_FLOAT ? H5Tget_size(type.get()) : 0;
  if (elem != 2 && elem != 4) {
    throw Error(where, "the dataset is not float16 or float32", kDamaged);
  }
  rows = static_cast<int64_t>(dims[0]);
  if (checksum != nullptr) {
    int64_t crc = 0;
    bool present = false;
    try {
      present = h5::read_int_attr(ds.get(), kAttrChecksum, crc);
    } catch (const h5::Failure& e) {
      throw Error(where, std::string("cannot read the checksum: ") + e.what(), kDamaged);
    }
    if (present && (crc < 0 || crc > 0xFFFFFFFFll)) {
      throw Error(where, "the checksum attribute is not a CRC-32C", kDamaged);
    }
    *checksum = present ? std::optional<uint32_t>(static_cast<uint32_t>(crc)) : std::nullopt;
  }
}

bool same_layout(const StoreInfo& a, const StoreInfo& b) {
  if (a.dtype != b.dtype || a.streams.size() != b.streams.size()) return false;
  for (size_t i = 0; i < a.streams.size(); ++i) {
    if (a.streams[i].name != b.streams[i].name || a.streams[i].dim != b.streams[i].dim) {
      return false;
    }
  }
  return a.num_shards == b.num_shards && a.text_dim == b.text_dim;
}

}  // namespace

struct StoreReader::Impl {
  std::string path;
  StoreInfo info;
  std::vector<std::string> shard_paths;  // data files; shard_paths[0] == path when unsharded
  std::vector<Handle> shard_files;
  std::vector<std::string> order;        // clip ids as packed
  std::unordered_map<std::string, int32_t> shard_of;
  std::vector<std::string> text_order;   // query keys as packed
  std::unordered_map<std::string, int32_t> text_shard_of;
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

  int32_t find_text_shard(const std::string& key) const {
    if (info.text_dim <= 0) {
      throw Error(text_where(path, key), "the store has no query text features (no text group)",
                  "pack the query text features with asl pack --text-folder");
    }
    const auto it = text_shard_of.find(key);
    if (it == text_shard_of.end()) {
      throw Error(text_where(path, key), "query text is not in the store (" +
                                             std::to_string(text_order.size()) + " query texts)",
                  "check the query key, or pack the query text features with asl pack "
                  "--text-folder");
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
      if (info.text_dim > 0) {  // the text group is not a clip
        const Handle text = open_text_group(first.get(), path, info);
        text_order = group_links(text.get(), path, "query texts");
        order.erase(std::remove(order.begin(), order.end(), std::string(kTextGroup)),
                    order.end());
        for (const auto& key : text_order) text_shard_of.emplace(key, 0);
      }
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

  // The index's text table (stores with query text features): keys in pack order and the
  // shard of each; returns the number of texts per shard.
  std::vector<int64_t> read_text_table(hid_t index) {
    const std::string damaged = "the index is damaged; re-create the store with asl pack";
    std::vector<int64_t> per_shard(static_cast<size_t>(info.num_shards), 0);
    if (info.text_dim <= 0) return per_shard;
    std::vector<int64_t> table;
    try {
      if (!h5::read_strings_dataset(index, kIndexTextKeys, text_order) ||
          !h5::read_ints_dataset(index, kIndexTextShard, table)) {
        throw Error(path, "the index has no query text table (text_keys, text_shard)", damaged);
      }
    } catch (const h5::Failure& e) {
      throw Error(path, std::string("cannot read the query text table: ") + e.what(), damaged);
    }
    if (text_order.size() != table.size() ||
        static_cast<int64_t>(text_order.size()) != info.num_texts) {
      throw Error(path, "the query text table has " + std::to_string(text_order.size()) +
                            " keys and " + std::to_string(table.size()) +
                            " shard numbers for " + std::to_string(info.num_texts) +
                            " query texts",
                  damaged);
    }
    for (size_t i = 0; i < text_order.size(); ++i) {
      const std::string& key = text_order[i];
      if (!valid_text_key(key)) {
        throw Error(path, "the query text table holds the bad key '" + key + "'", damaged);
      }
      if (table[i] < 0 || table[i] >= info.num_shards) {
        throw Error(text_where(path, key),
                    "shard number " + std::to_string(table[i]) + " out of range", damaged);
      }
      if (!text_shard_of.emplace(key, static_cast<int32_t>(table[i])).second) {
        throw Error(text_where(path, key), "the key is listed twice in the query text table",
                    damaged);
      }
      ++per_shard[static_cast<size_t>(table[i])];
    }
    return per_shard;
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
    const std::vector<int64_t> texts_per_shard = read_text_table(index);
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
        throw Error(shard_path, "does not match the index " + path + " (streams, dtype, text "
                                "dimension or shard number differ)",
                    "the store was mixed with another one; re-create it with asl pack");
      }
      if (info.text_dim > 0) {
        if (sh.info.num_texts != texts_per_shard[i]) {
          throw Error(shard_path, "holds " + std::to_string(sh.info.num_texts) +
                                      " query texts, the index expects " +
                                      std::to_string(texts_per_shard[i]),
                      "the store is incomplete or damaged; re-create it with asl pack");
        }
        open_text_group(file.get(), shard_path, sh.info);  // there, a group, with that count
      }
      // The text group is a link of the root too, not a clip.
      const int64_t links = link_count(file.get(), shard_path, "clips") - (info.text_dim > 0);
      if (sh.info.num_clips != per_shard[i] || links != per_shard[i]) {
        throw Error(shard_path, "holds " + std::to_string(links) + " clips, the index expects " +
                                    std::to_string(per_shard[i]),
                    "the store is incomplete or damaged; re-create it with asl pack");
      }
      shard_paths.push_back(shard_path);
      shard_files.push_back(std::move(file));
    }
  }

  std::string where_of(const std::string& clip_id, int64_t stream) const {
    return stream_where(shard_paths[static_cast<size_t>(shard_of.at(clip_id))], clip_id,
                        info.streams[static_cast<size_t>(stream)].name);
  }

  // Opens clip/stream; checks it is a 2-D float dataset of the stream's dimension, and reads
  // its checksum when asked (absent in stores packed before checksums). Under Lock.
  Handle open_dataset(const std::string& clip_id, int64_t stream, int64_t& rows,
                      size_t& elem, std::optional<uint32_t>* checksum = nullptr) const {
    const int32_t shard = find_shard(clip_id);
    const std::string& file_path = shard_paths[static_cast<size_t>(shard)];
    const hid_t file = shard_files[static_cast<size_t>(shard)].get();
    const StreamInfo& si = info.streams[static_cast<size_t>(stream)];
    const std::string where = stream_where(file_path, clip_id, si.name);
    const std::string name = clip_id + "/" + si.name;
    // Opened as any object, then checked to be a dataset: H5Dopen2 on a group (a damaged
    // or foreign file) fails inside HDF5 without releasing what it read (a leak per call).
    Handle ds(H5Oopen(file, name.c_str(), H5P_DEFAULT), H5Oclose);
    if (!ds.valid()) {
      const std::string detail = h5::last_error();
      if (H5Lexists(file, clip_id.c_str(), H5P_DEFAULT) <= 0) {
        throw Error(clip_where(file_path, clip_id), "the clip's group is missing: " + detail,
                    kDamaged);
      }
      throw Error(where, "the stream's dataset is missing or unreadable: " + detail, kDamaged);
    }
    check_matrix_dataset(ds, where, si.dim, kStreamKind, rows, elem, checksum);
    return ds;
  }

  // Opens text/KEY; checks it is a 2-D float dataset of the store's text dimension with at
  // least one row, and reads its checksum when asked. Under Lock.
  Handle open_text_dataset(const std::string& key, int64_t& rows, size_t& elem,
                           std::optional<uint32_t>* checksum = nullptr) const {
    const int32_t shard = find_text_shard(key);
    const std::string& file_path = shard_paths[static_cast<size_t>(shard)];
    const hid_t file = shard_files[static_cast<size_t>(shard)].get();
    const std::string where = text_where(file_path, key);
    if (!valid_text_key(key)) {  // keys come from the file: an index may hold anything
      throw Error(where, "not a valid query key", kDamaged);
    }
    const std::string name = std::string(kTextGroup) + "/" + key;
    Handle ds;
    if (H5Lexists(file, name.c_str(), H5P_DEFAULT) > 0) {
      ds = Handle(H5Oopen(file, name.c_str(), H5P_DEFAULT), H5Oclose);
    }
    if (!ds.valid()) {
      throw Error(where, "the query text's dataset is missing or unreadable: " +
                             h5::last_error(),
                  kDamaged);
    }
    check_matrix_dataset(ds, where, info.text_dim, kTextKind, rows, elem, checksum);
    if (rows < 1) {
      throw Error(where, "the dataset has no tokens (0 x " + std::to_string(info.text_dim) + ")",
                  kDamaged);
    }
    return ds;
  }

  // Reads an opened dataset of rows x cols into float32, checking the checksum when there is
  // one. `where` names the dataset in errors.
  FeatureMatrix read_values(Handle ds, int64_t rows, int64_t cols, size_t elem,
                            const std::optional<uint32_t>& checksum, const std::string& where,
                            const char* what) const {
    // Allocated (and zeroed) without the lock, so that other threads can read meanwhile.
    FeatureMatrix m(rows, cols);
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
        throw Error(where, std::string("cannot read the ") + what + ": " + h5::last_error(),
                    "the file is truncated or damaged; re-create it with asl pack");
      }
      ds.reset();
    }
    if (checksum) {  // outside the lock: other threads read meanwhile
      const size_t bytes = m.values.size() * elem;
      const unsigned char* raw = reinterpret_cast<const unsigned char*>(m.values.data()) +
                                 (halves ? 2 * m.values.size() : 0);
      if (crc32c(raw, bytes) != *checksum) {
        throw Error(where,
                    std::string("the ") + what +
                        " fail their checksum (CRC-32C): bytes changed after packing",
                    "a bad disk or an incomplete copy; copy the store again or re-create it "
                    "with asl pack");
      }
    }
    if (halves) expand_halves_in_place(m.values.data(), m.values.size());
    return m;
  }

  FeatureMatrix read(const std::string& clip_id, int64_t stream) const {
    if (stream < 0 || stream >= static_cast<int64_t>(info.streams.size())) {
      throw Error(path, "stream number " + std::to_string(stream) + " out of range");
    }
    int64_t rows = 0;
    size_t elem = 0;
    Handle ds;
    std::optional<uint32_t> checksum;
    {
      h5::Lock lock;
      ds = open_dataset(clip_id, stream, rows, elem, &checksum);
    }
    return read_values(std::move(ds), rows, info.streams[static_cast<size_t>(stream)].dim, elem,
                       checksum, where_of(clip_id, stream), "features");
  }

  FeatureMatrix read_text(const std::string& key) const {
    int64_t rows = 0;
    size_t elem = 0;
    Handle ds;
    std::optional<uint32_t> checksum;
    {
      h5::Lock lock;
      ds = open_text_dataset(key, rows, elem, &checksum);
    }
    const std::string where =
        text_where(shard_paths[static_cast<size_t>(text_shard_of.at(key))], key);
    return read_values(std::move(ds), rows, info.text_dim, elem, checksum, where,
                       "text features");
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

bool StoreReader::has_checksums(const std::string& clip_id, int64_t stream) const {
  h5::Lock lock;
  int64_t rows = 0;
  size_t elem = 0;
  std::optional<uint32_t> checksum;
  impl_->open_dataset(clip_id, stream, rows, elem, &checksum);
  return checksum.has_value();
}

bool StoreReader::has_text(const std::string& key) const {
  return impl_->text_shard_of.count(key) > 0;
}

FeatureMatrix StoreReader::read_text(const std::string& key) const {
  return impl_->read_text(key);
}

std::vector<std::string> StoreReader::text_keys() const { return impl_->text_order; }

int64_t StoreReader::text_rows(const std::string& key) const {
  h5::Lock lock;
  int64_t rows = 0;
  size_t elem = 0;
  impl_->open_text_dataset(key, rows, elem);
  return rows;
}

std::vector<std::string> StoreReader::files() const {
  std::vector<std::string> out;
  if (impl_->info.num_shards > 1) out.push_back(impl_->path);
  out.insert(out.end(), impl_->shard_paths.begin(), impl_->shard_paths.end());
  return out;
}

}  // namespace asl::data
