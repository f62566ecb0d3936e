// Smooth, small two-stream features for training tests (clip "clip-N"): a tiny network
// trains sensibly on them, and every run reads the same values.
#pragma once

#include <cmath>
#include <string>
#include <vector>

#include "data/dataset.h"

namespace asl::testing {

class WaveSource : public data::FeatureSource {
 public:
  std::vector<data::FeatureMatrix> read(const data::Clip& clip) const override {
    const int64_t n = std::stoll(clip.clip_id.substr(5));
    std::vector<data::FeatureMatrix> out;
    const int64_t dims[2] = {12, 8};
    for (int k = 0; k < 2; ++k) {
      data::FeatureMatrix m(kSteps, dims[k]);
      for (int64_t t = 0; t < kSteps; ++t)
        for (int64_t d = 0; d < dims[k]; ++d)
          m.at(t, d) = static_cast<float>(std::sin(0.7 * n + 0.31 * t + 1.3 * d + k));
      out.push_back(std::move(m));
    }
    return out;
  }
  std::vector<std::string> stream_names() const override { return {"a", "b"}; }
  std::string describe() const override { return "waves"; }
  static constexpr int64_t kSteps = 48;
};

}  // namespace asl::testing
