// The HDF5 feature store (docs/store.md): named streams, one group per clip holding one
// chunked T_f x D_f dataset per stream (with the CRC-32C of its values), float16 or
// float32, root attributes naming the
// format, version, streams and dimensions. Optionally sharded into K files behind a small
// index file, so `store.path` always names one file. Tensor-free.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "data/feature_io.h"

namespace asl::data {

struct StreamInfo {
  std::string name;
  int64_t dim = 0;
};

struct StoreInfo {
  std::string format;             // "ego4d-asl-feature-store"
  int64_t version = 1;
  std::vector<StreamInfo> streams;
  DType dtype = DType::F16;
  std::string source;             // free text: where the features came from
  int64_t num_clips = 0;
  int64_t num_shards = 1;
  // Query text features (Natural Language Queries, docs/nlq.md): group text/, one L x text_dim
  // dataset per query key (L tokens, or 1 for a sentence vector). 0: the store has none.
  int64_t text_dim = 0;
  int64_t num_texts = 0;
};

// Writes a store. Clips go to shard hash(clip_id) mod K. Nothing is visible under `path`
// until commit(): a killed or failed pack never leaves a store that looks complete.
class StoreWriter {
 public:
  // checksums = false leaves out the CRC-32C of each dataset (for the load benchmark's
  // comparison; stores for use keep them).
  StoreWriter(const std::string& path, std::vector<StreamInfo> streams, DType dtype,
              std::string source, int64_t num_shards = 1, bool checksums = true);
  ~StoreWriter();
  StoreWriter(const StoreWriter&) = delete;
  StoreWriter& operator=(const StoreWriter&) = delete;

  // One matrix per stream, in the order of `streams`; checks dimensions and finiteness.
  void write_clip(const std::string& clip_id, const std::vector<FeatureMatrix>& per_stream);
  // One query's text features (L x D, every query the same D) under text/KEY; checks
  // finiteness and that the key is new. Same dtype and checksum as the clips.
  void write_text(const std::string& key, const FeatureMatrix& tokens);
  void commit();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// Reads a store (a single file or a shard index). Safe to use from several threads.
class StoreReader {
 public:
  explicit StoreReader(const std::string& path);
  ~StoreReader();
  StoreReader(const StoreReader&) = delete;
  StoreReader& operator=(const StoreReader&) = delete;

  const StoreInfo& info() const;
  bool has_clip(const std::string& clip_id) const;
  std::vector<std::string> clip_ids() const;
  int64_t stream_index(const std::string& name) const;  // throws asl::Error when absent
  // Reads only this clip's dataset(s). Throws asl::Error naming the store and clip.
  FeatureMatrix read(const std::string& clip_id, int64_t stream) const;
  std::vector<FeatureMatrix> read_clip(const std::string& clip_id) const;
  // T of one clip's stream, from the dataset's shape (reads no values).
  int64_t rows(const std::string& clip_id, int64_t stream) const;
  // Whether this clip's stream carries a checksum (stores packed by this version do; read()
  // checks it every time, so changed bytes are an error naming the clip).
  bool has_checksums(const std::string& clip_id, int64_t stream) const;
  // Query text features (text/ group): whether KEY is there, its L x text_dim matrix (float32;
  // throws asl::Error naming the store and key), every key in pack order.
  bool has_text(const std::string& key) const;
  FeatureMatrix read_text(const std::string& key) const;
  std::vector<std::string> text_keys() const;
  // L of one query's text features, from the dataset's shape (reads no values).
  int64_t text_rows(const std::string& key) const;
  // The files making up the store: the index (when sharded) then the data files.
  std::vector<std::string> files() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

struct VerifyReport {
  int64_t clips = 0;
  int64_t datasets = 0;
  int64_t values = 0;
  std::vector<std::string> problems;  // "clip X stream Y: 3 NaN, first at t=.. d=.."
};

// Reads every dataset of the store (query texts too) and reports NaN/Inf, checksum and shape
// problems.
VerifyReport verify_store(const std::string& path);

// A one-screen summary: format, version, streams and dimensions, dtype, clips, query texts,
// shards, size.
std::string summarize_store(const std::string& path);

}  // namespace asl::data
