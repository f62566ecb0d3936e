// `asl pack`: feature files (per clip or per canonical video, .pt or .npy) -> the HDF5
// feature store. Tensor-free.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "data/feature_io.h"

namespace asl::data {

struct FeatureSourceSpec {
  std::string name;        // stream name
  std::string dir;         // folder of feature files
  bool per_video = false;  // files named by video id, cut to each clip
};

// Parses "NAME=DIR[:per-clip|per-video]"; throws asl::Error naming the bad spec.
FeatureSourceSpec parse_feature_spec(const std::string& spec);

struct PackOptions {
  std::string annotations;               // clip annotations JSON
  std::vector<FeatureSourceSpec> features;
  std::string out;                       // store path
  DType dtype = DType::F16;
  int64_t shards = 1;
  // Query text features (docs/store.md, Query text features): every <key>.pt and <key>.npy
  // file of this folder goes to the store's text group under KEY. Empty: no text.
  std::string text_folder;
};

struct PackReport {
  int64_t clips = 0;
  int64_t texts = 0;     // query text features packed
  int64_t text_dim = 0;
  double seconds = 0;
  int64_t bytes = 0;
};

PackReport pack_store(const PackOptions& options);

// The query text files of a folder, sorted by key: every regular file named <key>.pt or
// <key>.npy whose name does not start with '.'; other files are ignored. Throws asl::Error
// naming the folder when it does not exist or holds no such file, and naming both files when
// a key has a .pt and a .npy file.
std::vector<std::pair<std::string, std::string>> list_text_files(const std::string& folder);

}  // namespace asl::data
