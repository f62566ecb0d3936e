// In-memory clips and features for the dataset and loader tests.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "core/config.h"
#include "data/dataset.h"

namespace asl::data::testing {

// Features whose values encode (clip number, stream, step, channel), so tests can tell
// which clip, stream and step a value came from.
class FakeSource : public FeatureSource {
 public:
  FakeSource(std::vector<int64_t> dims, int64_t steps) : dims_(std::move(dims)), steps_(steps) {}

  static float value(int64_t clip, int64_t stream, int64_t t, int64_t d) {
    return static_cast<float>(clip * 10000 + stream * 1000 + t * 10 + d);
  }

  std::vector<FeatureMatrix> read(const Clip& clip) const override {
    const int64_t n = std::stoll(clip.clip_id.substr(5));  // "clip-N"
    std::vector<FeatureMatrix> out;
    for (size_t k = 0; k < dims_.size(); ++k) {
      FeatureMatrix m(steps_, dims_[k]);
      for (int64_t t = 0; t < steps_; ++t)
        for (int64_t d = 0; d < dims_[k]; ++d) m.at(t, d) = value(n, static_cast<int64_t>(k), t, d);
      out.push_back(std::move(m));
    }
    return out;
  }
  std::vector<std::string> stream_names() const override {
    std::vector<std::string> names;
    for (size_t k = 0; k < dims_.size(); ++k) names.push_back("s" + std::to_string(k));
    return names;
  }
  std::string describe() const override { return "fake"; }

 private:
  std::vector<int64_t> dims_;
  int64_t steps_;
};

// `n` clips "clip-0".. of `duration` s, each with two actions, subsets cycling train/val.
inline std::shared_ptr<ClipAnnotations> make_clips(int n, double duration, double fps) {
  auto a = std::make_shared<ClipAnnotations>();
  for (int i = 0; i < n; ++i) {
    Clip c;
    c.clip_id = "clip-" + std::to_string(i);
    c.video_id = "video-" + std::to_string(i / 2);
    c.subset = (i % 4 == 3) ? "val" : "train";
    c.duration = duration;
    c.parent_end_sec = duration;
    c.v_duration = duration;
    c.fps = fps;
    c.annotations.push_back({0.1 * duration, 0.4 * duration, "a", 0});
    c.annotations.push_back({0.5 * duration, 0.9 * duration, i % 2 ? "b" : "c", i % 2 ? 1 : 2});
    a->clips.push_back(c);
  }
  return a;
}

inline config::Config small_config(int64_t max_seq_len) {
  return config::load_config_text(
      "dataset: {num_classes: 3, input_dim: [3, 2], feat_stride: 1, num_frames: 1,"
      " max_seq_len: " + std::to_string(max_seq_len) +
          ", force_upsampling: true, trunc_thresh: 0.3, crop_ratio: [0.9, 1.0]}\n"
          "model: {embd_dim: [256, 256], n_head: 4, backbone_arch: [1, 1, 2],"
          " regression_range: [[0, 4], [4, 8], [8, 1000]]}\n",
      "test config");
}

}  // namespace asl::data::testing
