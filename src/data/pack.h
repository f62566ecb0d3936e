// `asl pack`: feature files (per clip or per canonical video, .pt or .npy) -> the HDF5
// feature store. Tensor-free.
#pragma once

#include <cstdint>
#include <string>
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
};

struct PackReport {
  int64_t clips = 0;
  double seconds = 0;
  int64_t bytes = 0;
};

PackReport pack_store(const PackOptions& options);

}  // namespace asl::data
