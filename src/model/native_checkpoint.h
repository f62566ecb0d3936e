// The native checkpoint of this project: the weights `asl import` writes and the pieces the
// training checkpoint (train/checkpoint.h) shares.
#pragma once

#include <torch/serialize/archive.h>

#include <cstdint>
#include <string>

#include "model/state_dict.h"

namespace asl::model {

// Native checkpoint, format version 1: a torch::serialize::OutputArchive (a zip that
// torch::serialize::InputArchive reads back; LibTorch 1.x and 2.x) holding
//   format     string "asl-checkpoint"
//   version    int 1
//   model      archive: every live parameter under its reference name (float32)
//   model_ema  archive with the same keys, only when EMA weights exist
//   epoch      int, the epoch recorded by the reference (-1: unknown)
//   source     string, what the weights came from ("asl import <file name>")
// Later formats (training) add keys; readers ignore keys they do not know.

// The weights a native checkpoint holds.
struct NativeWeights {
  NamedTensors model;
  NamedTensors model_ema;  // empty: no EMA weights
  int64_t epoch = -1;
  std::string source;
};

// Writes a native checkpoint (format above) atomically: on error nothing is left at `path`.
void write_native_weights(const std::string& path, const NativeWeights& weights);

// The pieces shared with the training checkpoint (train/checkpoint.h), which adds its keys
// beside the weights:
// format, version, epoch, source, model and model_ema into `archive`;
void write_weights_to(torch::serialize::OutputArchive& archive, const NativeWeights& weights);
// loads `path` and checks its format and version; throws asl::Error naming the path;
void load_native_archive(const std::string& path, torch::serialize::InputArchive& archive);
// serializes in memory, then writes atomically (LibTorch's zip writer aborts the process
// when the disk fills up mid-file, so it never writes the file itself).
void save_archive_atomic(const std::string& path, torch::serialize::OutputArchive& archive);
// Reads one back. Throws asl::Error naming the path for a missing, unreadable or
// non-native file or an unknown format version.
NativeWeights read_native_weights(const std::string& path);

}  // namespace asl::model
