// The Ego4D dataset with the reference's semantics (ego4d_asl libs/datasets/ego4d.py;
// docs/dataset.md): split selection, per-stream linear resize to max_seq_len
// (force_upsampling), concatenation in config order, seconds -> feature-grid units,
// training-time filtering, truncation and random crop. Features come from the store
// (`store.path`) or from the reference's feature folders.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "core/config.h"
#include "data/annotations.h"
#include "data/feature_io.h"
#include "data/py_random.h"
#include "data/store.h"

#include <ATen/core/Tensor.h>
#include <optional>

namespace asl::data {

// Where a clip's features come from. Implementations are safe to call from several threads.
class FeatureSource {
 public:
  virtual ~FeatureSource() = default;
  // One T x D matrix per stream, in the config's stream order.
  virtual std::vector<FeatureMatrix> read(const Clip& clip) const = 0;
  // Stream names, in read() order (for messages).
  virtual std::vector<std::string> stream_names() const = 0;
  virtual std::string describe() const = 0;
  // The clips among `clips` whose features are not there (a store packed from another
  // annotation file). Sources that only find out when reading return none.
  virtual std::vector<std::string> missing(const std::vector<const Clip*>& clips) const {
    (void)clips;
    return {};
  }
};

// The store at cfg.store.path (streams picked by cfg.store.streams, else the store's order),
// or, without a store, dataset.feat_folder / file_prefix / file_ext as the reference reads
// them. Checks stream count and dimensions against dataset.input_dim.
std::shared_ptr<FeatureSource> make_feature_source(const config::Config& cfg);

// Where the NLQ queries' text features come from (docs/nlq.md): one L x text_dim matrix per
// query key. Safe to call from several threads.
class TextSource {
 public:
  virtual ~TextSource() = default;
  virtual FeatureMatrix read(const std::string& key) const = 0;
  virtual std::string describe() const = 0;
  // The keys among `keys` that have no text features.
  virtual std::vector<std::string> missing(const std::vector<std::string>& keys) const = 0;
};

// The store's text/ group (store.path), or dataset.text_folder's <key>.pt / <key>.npy files.
// Null for a Moment Queries config.
std::shared_ptr<TextSource> make_text_source(const config::Config& cfg);

// Holds the given clips' features in memory as float16 (a rank's shard).
std::shared_ptr<FeatureSource> make_memory_source(std::shared_ptr<FeatureSource> base,
                                                  const std::vector<const Clip*>& clips);

// One clip as the model sees it (the reference's data_dict).
struct VideoItem {
  std::string clip_id;
  at::Tensor feats;       // [C, T] float32
  at::Tensor segments;    // [N, 2] float32, feature-grid units ([0, 2] when none)
  at::Tensor labels;      // [N] int64
  double fps = 0;
  double duration = 0;
  double feat_stride = 0;
  double feat_num_frames = 0;
  bool has_annotations = false;  // the clip has ground truth (test clips have none)
  at::Tensor query;              // NLQ: the query's text tokens [text_dim, L] float32
};

class Ego4dDataset {
 public:
  Ego4dDataset(const config::Config& cfg, bool is_training, std::vector<std::string> split,
               std::shared_ptr<const ClipAnnotations> annotations,
               std::shared_ptr<FeatureSource> source);

  int64_t size() const { return static_cast<int64_t>(clips_.size()); }
  const Clip& clip(int64_t index) const { return *clips_[static_cast<size_t>(index)]; }
  const std::vector<const Clip*>& clips() const { return clips_; }
  bool is_training() const { return is_training_; }
  int64_t max_seq_len() const { return dataset_.max_seq_len; }

  // The item at `index`; training crops draw from `rng` (the reference's `random`).
  VideoItem get(int64_t index, PyRandom& rng) const;

 private:
  // A query's text matrix (L x text_dim) as [text_dim, min(L, max_query_len)].
  at::Tensor query_tokens(const FeatureMatrix& m, const std::string& key) const;

  struct Prepared {
    std::vector<float> seconds;  // [N * 2] segments in seconds, float32 as in the reference
    std::vector<int64_t> labels;
  };

  const config::DatasetConfig dataset_;
  const bool is_training_;
  std::vector<std::string> split_;
  std::shared_ptr<const ClipAnnotations> annotations_;
  std::shared_ptr<FeatureSource> source_;
  std::shared_ptr<TextSource> text_;  // NLQ only
  std::vector<const Clip*> clips_;
  std::vector<Prepared> prepared_;
};

// ---- the pieces, exposed for tests ----

// F.interpolate(x[None], size, mode='linear', align_corners=False)[0] for x [C, T].
at::Tensor resize_linear(const at::Tensor& feats_ct, int64_t size);

// (seconds * fps - 0.5 * num_frames) / feat_stride in float32, as the reference's NumPy.
at::Tensor seconds_to_grid(const std::vector<float>& seconds, double fps, double num_frames,
                           double feat_stride);

// Training: drop actions starting beyond vid_len, keep those at least trunc_thresh inside,
// clamp to [0, vid_len].
void filter_training_segments(at::Tensor& segments, at::Tensor& labels, double vid_len,
                              double trunc_thresh);

// The reference's truncate_feats: random crop (crop_ratio) / truncation to max_seq_len with
// at least one action of inter/len >= trunc_thresh (up to 200 trials).
void truncate_feats(VideoItem& item, int64_t max_seq_len, double trunc_thresh,
                    const std::optional<config::Range>& crop_ratio, PyRandom& rng);

}  // namespace asl::data
