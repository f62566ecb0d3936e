#include "data/dataset.h"

#include <cfenv>
#include <cmath>
#include <filesystem>
#include <mutex>
#include <unordered_map>

#include <spdlog/spdlog.h>

#include "core/error.h"
#include "core/progress.h"
#include "data/half.h"

namespace asl::data {
namespace {

// Expected width of each stream: dataset.input_dim as a list, or one total width.
void check_widths(const config::DatasetConfig& d, const std::vector<FeatureMatrix>& mats,
                  const std::string& clip_id, const std::vector<std::string>& stream_names) {
  if (d.input_dim.is_list) {
    if (mats.size() != d.input_dim.size()) {
      throw Error("clip " + clip_id, std::to_string(mats.size()) + " feature streams for " +
                                         std::to_string(d.input_dim.size()) +
                                         " entries of dataset.input_dim");
    }
    for (size_t k = 0; k < mats.size(); ++k) {
      if (mats[k].cols != d.input_dim.values[k]) {
        throw Error("clip " + clip_id + ", stream " + stream_names[k],
                    "features have " + std::to_string(mats[k].cols) + " channels, " +
                        "dataset.input_dim[" + std::to_string(k) + "] says " +
                        std::to_string(d.input_dim.values[k]),
                    "fix dataset.input_dim or the features");
      }
    }
  } else {
    int64_t total = 0;
    for (const auto& m : mats) total += m.cols;
    if (total != d.input_dim.values[0]) {
      throw Error("clip " + clip_id, "features have " + std::to_string(total) +
                                         " channels in all, dataset.input_dim says " +
                                         std::to_string(d.input_dim.values[0]),
                  "fix dataset.input_dim or the features");
    }
  }
}

class StoreSource : public FeatureSource {
 public:
  explicit StoreSource(const config::Config& cfg)
      : path_(*cfg.store.path), reader_(path_) {
    const StoreInfo& info = reader_.info();
    if (cfg.store.streams.empty()) {
      for (size_t k = 0; k < info.streams.size(); ++k) {
        streams_.push_back(static_cast<int64_t>(k));
        names_.push_back(info.streams[k].name);
      }
    } else {
      for (const auto& name : cfg.store.streams) {
        streams_.push_back(reader_.stream_index(name));
        names_.push_back(name);
      }
    }
  }

  std::vector<FeatureMatrix> read(const Clip& clip) const override {
    if (!reader_.has_clip(clip.feature_key())) {
      throw Error(path_, "clip " + clip.feature_key() + " is not in the feature store",
                  "pack the store from the same annotation file");
    }
    std::vector<FeatureMatrix> mats;
    // No finiteness scan here: `asl pack` refuses NaN/Inf when the store is written and
    // `asl inspect --verify` re-checks a store, so every epoch need not scan it again.
    for (const int64_t stream : streams_) mats.push_back(reader_.read(clip.feature_key(), stream));
    return mats;
  }

  std::vector<std::string> stream_names() const override { return names_; }

  std::string describe() const override { return "feature store " + path_; }

  std::vector<std::string> missing(const std::vector<const Clip*>& clips) const override {
    std::vector<std::string> out;
    for (const Clip* clip : clips)
      if (!reader_.has_clip(clip->feature_key())) out.push_back(clip->feature_key());
    return out;
  }

 private:
  std::string path_;
  StoreReader reader_;
  std::vector<int64_t> streams_;
  std::vector<std::string> names_;
};

class FolderSource : public FeatureSource {
 public:
  explicit FolderSource(const config::Config& cfg) : dataset_(cfg.dataset) {
    if (dataset_.feat_folder.values.empty()) {
      throw Error("config", "neither store.path nor dataset.feat_folder is set",
                  "set store.path to a packed store or dataset.feat_folder to feature folders");
    }
    if (!dataset_.file_ext) {
      throw Error("config", "dataset.file_ext is null but features are read from folders",
                  "set dataset.file_ext to .pt or .npy");
    }
    prefix_ = dataset_.file_prefix.value_or("");
    for (const auto& folder : dataset_.feat_folder.values) names_.push_back(folder);
  }

  std::vector<FeatureMatrix> read(const Clip& clip) const override {
    std::vector<FeatureMatrix> mats;
    for (const auto& folder : dataset_.feat_folder.values) {
      const std::string file = folder + "/" + prefix_ + clip.feature_key() + *dataset_.file_ext;
      mats.push_back(read_feature_file(file));
      check_finite(mats.back(), file);
    }
    return mats;
  }

  std::vector<std::string> stream_names() const override { return names_; }

  std::string describe() const override {
    return "feature folders (" + std::to_string(names_.size()) + ")";
  }

 private:
  config::DatasetConfig dataset_;
  std::string prefix_;
  std::vector<std::string> names_;
};

// Float16 copies of a shard's clips; reading converts back to float32.
class MemorySource : public FeatureSource {
 public:
  MemorySource(std::shared_ptr<FeatureSource> base, const std::vector<const Clip*>& clips)
      : base_(std::move(base)) {
    Progress progress("caching features", static_cast<int64_t>(clips.size()), "clips");
    for (const Clip* clip : clips) {
      if (cache_.count(clip->feature_key())) continue;
      std::vector<Half> streams;
      for (const FeatureMatrix& m : base_->read(*clip)) {
        Half h{m.rows, m.cols, std::vector<uint16_t>(m.values.size())};
        for (size_t i = 0; i < m.values.size(); ++i) h.bits[i] = float_to_half(m.values[i]);
        bytes_ += static_cast<int64_t>(h.bits.size() * sizeof(uint16_t));
        streams.push_back(std::move(h));
      }
      cache_.emplace(clip->feature_key(), std::move(streams));
      progress.advance();
    }
    progress.finish();
    spdlog::info("holding {} clips in memory ({:.1f} MB, float16)", cache_.size(), bytes_ / 1e6);
  }

  std::vector<FeatureMatrix> read(const Clip& clip) const override {
    const auto it = cache_.find(clip.feature_key());
    if (it == cache_.end()) return base_->read(clip);  // not in this rank's shard
    std::vector<FeatureMatrix> mats;
    for (const Half& h : it->second) {
      FeatureMatrix m(h.rows, h.cols);
      for (size_t i = 0; i < h.bits.size(); ++i) m.values[i] = half_to_float(h.bits[i]);
      mats.push_back(std::move(m));
    }
    return mats;
  }

  std::vector<std::string> stream_names() const override { return base_->stream_names(); }
  std::string describe() const override { return base_->describe() + " (in memory, float16)"; }

 private:
  struct Half {
    int64_t rows, cols;
    std::vector<uint16_t> bits;
  };
  std::shared_ptr<FeatureSource> base_;
  std::unordered_map<std::string, std::vector<Half>> cache_;
  int64_t bytes_ = 0;
};

class StoreTextSource : public TextSource {
 public:
  explicit StoreTextSource(const std::string& path) : path_(path), reader_(path) {
    if (reader_.info().text_dim <= 0) {
      throw Error(path_, "the store holds no query text features (text/ group)",
                  "pack them with asl pack --text-folder, or set dataset.text_folder");
    }
  }
  FeatureMatrix read(const std::string& key) const override { return reader_.read_text(key); }
  std::string describe() const override { return "text features of store " + path_; }
  std::vector<std::string> missing(const std::vector<std::string>& keys) const override {
    std::vector<std::string> out;
    for (const auto& k : keys)
      if (!reader_.has_text(k)) out.push_back(k);
    return out;
  }

 private:
  std::string path_;
  StoreReader reader_;
};

class FolderTextSource : public TextSource {
 public:
  explicit FolderTextSource(std::string folder) : folder_(std::move(folder)) {}
  FeatureMatrix read(const std::string& key) const override {
    const std::string file = path(key);
    if (file.empty()) {
      throw Error(folder_, "no text features for query " + key + " (" + key + ".pt or .npy)",
                  "extract them, or point dataset.text_folder at the right folder");
    }
    FeatureMatrix m = read_feature_file(file);
    check_finite(m, file);
    return m;
  }
  std::string describe() const override { return "text feature folder " + folder_; }
  std::vector<std::string> missing(const std::vector<std::string>& keys) const override {
    std::vector<std::string> out;
    for (const auto& k : keys)
      if (path(k).empty()) out.push_back(k);
    return out;
  }

 private:
  std::string path(const std::string& key) const {
    for (const char* ext : {".pt", ".npy"}) {
      const std::string file = folder_ + "/" + key + ext;
      if (std::filesystem::exists(file)) return file;
    }
    return "";
  }
  std::string folder_;
};

// Python's round(): half to even.
int64_t py_round(double x) {
  const int mode = std::fegetround();
  std::fesetround(FE_TONEAREST);
  const double r = std::nearbyint(x);
  std::fesetround(mode);
  return static_cast<int64_t>(r);
}

}  // namespace

std::shared_ptr<FeatureSource> make_feature_source(const config::Config& cfg) {
  if (cfg.store.path) return std::make_shared<StoreSource>(cfg);
  return std::make_shared<FolderSource>(cfg);
}

std::shared_ptr<TextSource> make_text_source(const config::Config& cfg) {
  if (!cfg.is_nlq()) return nullptr;
  if (cfg.dataset.text_folder) return std::make_shared<FolderTextSource>(*cfg.dataset.text_folder);
  if (!cfg.store.path) {
    throw Error("config", "ASL_NLQ needs the queries' text features",
                "set store.path to a store with a text/ group, or dataset.text_folder");
  }
  return std::make_shared<StoreTextSource>(*cfg.store.path);
}

std::shared_ptr<FeatureSource> make_memory_source(std::shared_ptr<FeatureSource> base,
                                                  const std::vector<const Clip*>& clips) {
  return std::make_shared<MemorySource>(std::move(base), clips);
}

// ---------------------------------------------------------------------------

at::Tensor resize_linear(const at::Tensor& feats_ct, int64_t size) {
  namespace F = torch::nn::functional;
  return F::interpolate(feats_ct.unsqueeze(0), F::InterpolateFuncOptions()
                                                   .size(std::vector<int64_t>{size})
                                                   .mode(torch::kLinear)
                                                   .align_corners(false))
      .squeeze(0);
}

at::Tensor seconds_to_grid(const std::vector<float>& seconds, double fps, double num_frames,
                           double feat_stride) {
  // NumPy float32 array op Python float: the scalar is cast to float32, the op runs in float32.
  const float f = static_cast<float>(fps);
  const float half = static_cast<float>(0.5 * num_frames);
  const float stride = static_cast<float>(feat_stride);
  at::Tensor out = torch::empty({static_cast<int64_t>(seconds.size() / 2), 2}, torch::kFloat32);
  float* o = out.data_ptr<float>();
  for (size_t i = 0; i < seconds.size(); ++i) {
    volatile float x = seconds[i] * f;  // volatile: keep each float32 rounding step
    x = x - half;
    o[i] = x / stride;
  }
  return out;
}

void filter_training_segments(at::Tensor& segments, at::Tensor& labels, double vid_len,
                              double trunc_thresh) {
  // Comparisons and clamping with a tensor use vid_len as float32; the ratio is in double
  // (the reference calls .item()).
  const float vid_len_f = static_cast<float>(vid_len);
  const int64_t n = segments.size(0);
  auto seg = segments.accessor<float, 2>();
  auto lab = labels.accessor<int64_t, 1>();
  std::vector<float> kept;
  std::vector<int64_t> kept_labels;
  for (int64_t i = 0; i < n; ++i) {
    const float s = seg[i][0], e = seg[i][1];
    if (s >= vid_len_f) continue;
    const double ratio = (std::min(static_cast<double>(e), vid_len) - s) / (static_cast<double>(e) - s);
    if (ratio >= trunc_thresh) {  // NaN (zero length) fails, as in the reference
      kept.push_back(std::min(std::max(s, 0.0f), vid_len_f));
      kept.push_back(std::min(std::max(e, 0.0f), vid_len_f));
      kept_labels.push_back(lab[i]);
    }
  }
  const int64_t m = static_cast<int64_t>(kept_labels.size());
  segments = torch::from_blob(kept.data(), {m, 2}, torch::kFloat32).clone();
  labels = torch::from_blob(kept_labels.data(), {m}, torch::kInt64).clone();
}

void truncate_feats(VideoItem& item, int64_t max_seq_len, double trunc_thresh,
                    const std::optional<config::Range>& crop_ratio, PyRandom& rng) {
  const int64_t feat_len = item.feats.size(1);
  const int64_t num_segs = item.segments.size(0);
  if (feat_len <= max_seq_len) {
    if (!crop_ratio) return;
    max_seq_len = rng.randint(std::max<int64_t>(py_round((*crop_ratio)[0] * feat_len), 1),
                              std::min<int64_t>(py_round((*crop_ratio)[1] * feat_len), feat_len));
    if (feat_len == max_seq_len) return;
  }
  const float thresh = static_cast<float>(trunc_thresh);  // tensor >= scalar: float32
  auto seg = item.segments.accessor<float, 2>();
  int64_t st = 0;
  std::vector<float> left(num_segs), right(num_segs);
  std::vector<bool> keep(num_segs);
  for (int trial = 0; trial < 200; ++trial) {
    st = rng.randint(0, feat_len - max_seq_len);
    const float ws = static_cast<float>(st), we = static_cast<float>(st + max_seq_len);
    bool any = false;
    for (int64_t i = 0; i < num_segs; ++i) {
      left[i] = std::max(ws, seg[i][0]);
      right[i] = std::min(we, seg[i][1]);
      const float inter = std::max(right[i] - left[i], 0.0f);
      const float area = std::fabs(seg[i][1] - seg[i][0]);
      const float ratio = inter / area;
      keep[i] = ratio >= thresh;
      any = any || keep[i];
    }
    if (any) break;
  }
  std::vector<float> segs;
  std::vector<int64_t> labs;
  auto lab = item.labels.accessor<int64_t, 1>();
  for (int64_t i = 0; i < num_segs; ++i) {
    if (!keep[i]) continue;
    segs.push_back(left[i] - static_cast<float>(st));
    segs.push_back(right[i] - static_cast<float>(st));
    labs.push_back(lab[i]);
  }
  const int64_t m = static_cast<int64_t>(labs.size());
  item.feats = item.feats.slice(1, st, st + max_seq_len).clone();
  item.segments = torch::from_blob(segs.data(), {m, 2}, torch::kFloat32).clone();
  item.labels = torch::from_blob(labs.data(), {m}, torch::kInt64).clone();
}

// ---------------------------------------------------------------------------

Ego4dDataset::Ego4dDataset(const config::Config& cfg, bool is_training,
                           std::vector<std::string> split,
                           std::shared_ptr<const ClipAnnotations> annotations,
                           std::shared_ptr<FeatureSource> source)
    : dataset_(cfg.dataset),
      is_training_(is_training),
      split_(std::move(split)),
      annotations_(std::move(annotations)),
      source_(std::move(source)) {
  const std::map<std::string, int64_t> label_dict = annotations_->label_dict();
  const int64_t num_classes = dataset_.num_classes;
  if (num_classes != 1) {
    for (const auto& [name, id] : label_dict) {
      if (id < 0 || id >= num_classes) {
        throw Error(dataset_.json_file, "label '" + name + "' has id " + std::to_string(id) +
                                            " outside [0, dataset.num_classes = " +
                                            std::to_string(num_classes) + ")",
                    "set dataset.num_classes to the number of labels");
      }
    }
    if (static_cast<int64_t>(label_dict.size()) != num_classes) {
      // The reference asserts equality; fewer labels in a subset is harmless.
      spdlog::warn("{}: {} labels for dataset.num_classes = {}", dataset_.json_file,
                   label_dict.size(), num_classes);
    }
  }
  clips_ = annotations_->select(split_);
  std::string joined;
  for (const auto& s : split_) joined += (joined.empty() ? "" : ", ") + s;
  if (clips_.empty()) {
    throw Error(dataset_.json_file, "no clips in split [" + joined + "]",
                "check train_split / val_split against the subsets in the annotations");
  }
  // At start-up, not epochs later: an annotation file changed under a packed store.
  if (const std::vector<std::string> lost = source_ ? source_->missing(clips_) : std::vector<std::string>{};
      !lost.empty()) {
    std::string names;
    for (size_t k = 0; k < lost.size() && k < 3; ++k) names += (k ? ", " : "") + lost[k];
    throw Error(source_->describe(),
                std::to_string(lost.size()) + " of the " + std::to_string(clips_.size()) +
                    " clips of split [" + joined + "] in " + dataset_.json_file +
                    " are not in it (" + names + (lost.size() > 3 ? ", ..." : "") + ")",
                "pack the store again from this annotation file (asl pack), or use the "
                "annotation file it was packed from");
  }
  text_ = make_text_source(cfg);
  if (text_) {
    std::vector<std::string> keys;
    for (const Clip* clip : clips_) keys.push_back(clip->clip_id);
    if (const auto lost = text_->missing(keys); !lost.empty()) {
      throw Error(text_->describe(),
                  std::to_string(lost.size()) + " of the " + std::to_string(keys.size()) +
                      " queries of split [" + joined + "] have no text features (" + lost[0] +
                      (lost.size() > 1 ? ", ..." : "") + ")",
                  "extract and pack the text features of every query of " + dataset_.json_file);
    }
  }
  for (const Clip* clip : clips_) {
    Prepared p;
    // The reference removes duplicates for every split; only training reads them.
    for (const Segment& s : remove_duplicate_annotations(clip->annotations)) {
      p.seconds.push_back(static_cast<float>(s.start));
      p.seconds.push_back(static_cast<float>(s.end));
      p.labels.push_back(num_classes == 1 ? 0 : label_dict.at(s.label));
    }
    prepared_.push_back(std::move(p));
  }
}

VideoItem Ego4dDataset::get(int64_t index, PyRandom& rng) const {
  const Clip& c = clip(index);
  const Prepared& p = prepared_[static_cast<size_t>(index)];
  const std::vector<FeatureMatrix> mats = source_->read(c);
  check_widths(dataset_, mats, c.clip_id, source_->stream_names());

  VideoItem item;
  item.clip_id = c.clip_id;
  item.fps = dataset_.default_fps ? *dataset_.default_fps : c.fps;
  item.duration = c.duration;
  const int64_t max_len = dataset_.max_seq_len;
  double feat_stride = 0, num_frames = 0;
  std::vector<at::Tensor> streams;
  for (const FeatureMatrix& m : mats) {
    // from_blob: a view of m's memory, alive until the concatenation below.
    at::Tensor feats = torch::from_blob(const_cast<float*>(m.values.data()), {m.rows, m.cols},
                                        torch::kFloat32);
    const int64_t t = m.rows;
    if (dataset_.feat_stride > 0 && !dataset_.force_upsampling) {
      // variable-length features; only down-sampling
      feat_stride = static_cast<double>(dataset_.feat_stride);
      num_frames = static_cast<double>(dataset_.num_frames);
      if (dataset_.downsample_rate > 1) {
        feats = feats.slice(0, 0, t, dataset_.downsample_rate);
        feat_stride = static_cast<double>(dataset_.feat_stride * dataset_.downsample_rate);
      }
    } else if (dataset_.feat_stride > 0) {
      // variable-length features resized to max_seq_len
      feat_stride = static_cast<double>((t - 1) * dataset_.feat_stride + dataset_.num_frames) /
                    static_cast<double>(max_len);
      num_frames = feat_stride;
    } else {
      // fixed-length features
      if (t > max_len) {
        throw Error("clip " + c.clip_id, std::to_string(t) + " feature steps exceed dataset.max_seq_len " +
                                             std::to_string(max_len));
      }
      const int64_t seq_len = dataset_.force_upsampling ? max_len : t;
      feat_stride = c.duration * item.fps / static_cast<double>(seq_len);
      num_frames = feat_stride;
    }
    feats = feats.t();  // T x C -> C x T
    if (feats.size(1) != max_len && dataset_.force_upsampling) {
      feats = resize_linear(feats.contiguous(), max_len);
    }
    streams.push_back(feats);
  }
  if (streams.size() > 1) {
    for (const auto& s : streams) {
      if (s.size(1) != streams[0].size(1)) {
        throw Error("clip " + c.clip_id,
                    "feature streams have different lengths (" + std::to_string(streams[0].size(1)) +
                        " and " + std::to_string(s.size(1)) + " steps)",
                    "use force_upsampling or features of one rate");
      }
    }
  }
  item.feats = torch::cat(streams, 0);  // a new tensor: no view of `mats` survives
  item.feat_stride = feat_stride;
  item.feat_num_frames = num_frames;

  item.has_annotations = !p.labels.empty();
  if (item.has_annotations) {
    item.segments = seconds_to_grid(p.seconds, item.fps, num_frames, feat_stride);
    item.labels = torch::from_blob(const_cast<int64_t*>(p.labels.data()),
                                   {static_cast<int64_t>(p.labels.size())}, torch::kInt64)
                      .clone();
    if (is_training_) {
      const double vid_len = item.feats.size(1) + 0.5 * num_frames / feat_stride;
      filter_training_segments(item.segments, item.labels, vid_len, dataset_.trunc_thresh);
      truncate_feats(item, max_len, dataset_.trunc_thresh, dataset_.crop_ratio, rng);
    }
  } else {
    item.segments = torch::zeros({0, 2}, torch::kFloat32);
    item.labels = torch::zeros({0}, torch::kInt64);
  }
  if (text_) item.query = query_tokens(text_->read(c.clip_id), c.clip_id);
  return item;
}

at::Tensor Ego4dDataset::query_tokens(const FeatureMatrix& m, const std::string& key) const {
  if (m.cols != dataset_.text_dim || m.rows < 1) {
    throw Error("query " + key, "text features of " + std::to_string(m.rows) + " x " +
                                    std::to_string(m.cols) + " for dataset.text_dim " +
                                    std::to_string(dataset_.text_dim),
                "set dataset.text_dim to the text encoder's width");
  }
  const int64_t rows = std::min(m.rows, dataset_.max_query_len);
  return torch::from_blob(const_cast<float*>(m.values.data()), {m.rows, m.cols}, torch::kFloat32)
      .narrow(0, 0, rows)
      .t()
      .contiguous();  // a copy: [text_dim, L]
}

}  // namespace asl::data
