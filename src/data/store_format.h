// The on-disk format of the feature store, shared by its writer, reader and summary
// (docs/store.md): the root attributes every file carries, where messages point, and how
// store files are created and opened. Internal to src/data.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "data/feature_io.h"
#include "data/hdf5_file.h"
#include "data/store.h"

namespace asl::data::store_format {

inline constexpr const char* kFormat = "ego4d-asl-feature-store";
inline constexpr int64_t kVersion = 1;

// Root attributes (every file) and the shard index's own attribute and datasets.
inline constexpr const char* kAttrFormat = "format";
inline constexpr const char* kAttrVersion = "version";
inline constexpr const char* kAttrStreams = "streams";
inline constexpr const char* kAttrDims = "dims";
inline constexpr const char* kAttrDtype = "dtype";
inline constexpr const char* kAttrSource = "source";
inline constexpr const char* kAttrNumClips = "num_clips";
inline constexpr const char* kAttrNumShards = "num_shards";
inline constexpr const char* kAttrShardIndex = "shard_index";
inline constexpr const char* kAttrShardFiles = "shard_files";
inline constexpr const char* kAttrChecksum = "crc32c";  // on each clip dataset
inline constexpr const char* kIndexClipIds = "clip_ids";
inline constexpr const char* kIndexClipShard = "clip_shard";
// Query text features (stores packed with text only): the group at the root of every store
// file, its root attributes, and the index's text table.
inline constexpr const char* kTextGroup = "text";
inline constexpr const char* kAttrTextDim = "text_dim";
inline constexpr const char* kAttrNumTexts = "num_texts";
inline constexpr const char* kIndexTextKeys = "text_keys";
inline constexpr const char* kIndexTextShard = "text_shard";

// What the root attributes of one file say.
struct Header {
  StoreInfo info;
  int64_t shard_index = -1;               // shard files of a sharded store
  std::vector<std::string> shard_files;   // the index file only
};

// "FILE, clip ID" and "FILE, clip ID, stream NAME": where an error message points.
std::string clip_where(const std::string& file, const std::string& clip_id);
std::string stream_where(const std::string& file, const std::string& clip_id,
                         const std::string& stream);
// "FILE, query text KEY".
std::string text_where(const std::string& file, const std::string& key);

// HDF5's IEEE half type in the machine's byte order (the in-memory side of f16 I/O).
h5::Handle mem_half_type();

// The root attributes every file of a store carries.
void write_header(hid_t file, const std::vector<StreamInfo>& streams, DType dtype,
                  const std::string& source, int64_t num_clips, int64_t num_shards);
// The text attributes of a store file with query text features (text_dim > 0); a store
// without them has neither attribute.
void write_text_header(hid_t file, int64_t text_dim, int64_t num_texts);

// Creates an HDF5 file whose root group lists links in creation order (clips come back in
// the order they were packed). Format bounds 1.8: readable by every HDF5 since 1.8.
h5::Handle create_h5_file(const std::string& temp_path, const std::string& target);

// Creates the text group under `file`, listing its links in creation order (query keys come
// back in the order they were packed). Invalid handle on failure.
h5::Handle create_text_group(hid_t file);

// Opens an existing store file read-only with a clear error for the usual failures.
h5::Handle open_h5_file(const std::string& path);

// Reads and checks the root attributes of one store file; throws asl::Error naming `path`.
Header read_header(hid_t file, const std::string& path);

}  // namespace asl::data::store_format
