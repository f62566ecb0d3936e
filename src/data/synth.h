// `asl synth`: a synthetic Ego4D-shaped dataset whose labels are learnable (the generative
// model is documented in docs/data.md). Deterministic for a seed. Tensor-free.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "data/annotations.h"
#include "data/feature_io.h"
#include "data/store.h"

namespace asl::data {

struct SynthOptions {
  std::string out_dir;
  std::string template_path;          // clip annotations to reuse; empty: draw clips
  int64_t clips = 64;                 // number of clips (a subset of the template's)
  int64_t classes = 110;              // label ids 0..classes-1
  std::vector<StreamInfo> streams;    // e.g. egovlp:256, internvideo:1024
  uint64_t seed = 0;
  std::string write = "h5";           // h5 (a store) | pt | npy (one file per clip)
  bool per_video = false;             // pt/npy: one file per canonical video instead
  DType dtype = DType::F16;
  double feature_fps = 1.8741513727840071;
};

struct SynthReport {
  int64_t clips = 0;
  int64_t instances = 0;
  std::string annotations_path;       // out_dir/clip_annotations.json
  std::vector<std::string> outputs;   // the store, or one folder per stream
};

// Parses "NAME:DIM,NAME:DIM"; throws asl::Error naming the bad entry.
std::vector<StreamInfo> parse_streams(const std::string& spec);

SynthReport synthesize(const SynthOptions& options);

}  // namespace asl::data
