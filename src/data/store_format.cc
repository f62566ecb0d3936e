#include "data/store_format.h"

#include <filesystem>

#include "core/error.h"
#include "core/fs.h"

namespace asl::data::store_format {

using h5::Handle;

std::string clip_where(const std::string& file, const std::string& clip_id) {
  return file + ", clip " + clip_id;
}

std::string stream_where(const std::string& file, const std::string& clip_id,
                         const std::string& stream) {
  return file + ", clip " + clip_id + ", stream " + stream;
}

std::string text_where(const std::string& file, const std::string& key) {
  return file + ", query text " + key;
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

void write_text_header(hid_t file, int64_t text_dim, int64_t num_texts) {
  h5::write_int_attr(file, kAttrTextDim, text_dim);
  h5::write_int_attr(file, kAttrNumTexts, num_texts);
}

Handle create_text_group(hid_t file) {
  Handle gcpl(H5Pcreate(H5P_GROUP_CREATE), H5Pclose);
  if (!gcpl.valid()) return Handle();
  H5Pset_link_creation_order(gcpl.get(), H5P_CRT_ORDER_TRACKED | H5P_CRT_ORDER_INDEXED);
  return Handle(H5Gcreate2(file, kTextGroup, H5P_DEFAULT, gcpl.get(), H5P_DEFAULT), H5Gclose);
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
    // Query text features: both attributes or neither (stores without text have neither).
    const bool has_dim = h5::read_int_attr(file, kAttrTextDim, info.text_dim);
    const bool has_count = h5::read_int_attr(file, kAttrNumTexts, info.num_texts);
    if (has_dim != has_count) {
      throw Error(path, std::string("the store header has '") +
                            (has_dim ? kAttrTextDim : kAttrNumTexts) + "' without '" +
                            (has_dim ? kAttrNumTexts : kAttrTextDim) + "'",
                  damaged);
    }
    if (has_dim && (info.text_dim <= 0 || info.num_texts < 0)) {
      throw Error(path, "the store header has impossible text attributes (text_dim " +
                            std::to_string(info.text_dim) + ", num_texts " +
                            std::to_string(info.num_texts) + ")",
                  damaged);
    }
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

}  // namespace asl::data::store_format
