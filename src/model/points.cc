#include "model/points.h"

#include <ATen/ATen.h>

#include <cmath>
#include <string>

#include "core/error.h"

namespace asl::model {

PointGenerator::PointGenerator(const config::ModelConfig& cfg)
    : buffer_len_(static_cast<double>(cfg.max_seq_len) * cfg.max_buffer_len_factor),
      strides_(cfg.fpn_strides()),
      ranges_(cfg.regression_range) {
  if (strides_.size() != ranges_.size()) {
    throw Error("model.regression_range", std::to_string(ranges_.size()) + " ranges for " +
                                              std::to_string(strides_.size()) + " pyramid levels");
  }
}

at::Tensor PointGenerator::level_points(std::size_t level, int64_t length,
                                        const at::TensorOptions& options) const {
  const int64_t stride = strides_.at(level);
  const auto buffered = static_cast<int64_t>(std::ceil(buffer_len_ / static_cast<double>(stride)));
  if (length > buffered) {
    throw Error("model", "pyramid level " + std::to_string(level) + " has " +
                             std::to_string(length) + " steps, more than the " +
                             std::to_string(buffered) + " buffered points",
                "raise model.max_buffer_len_factor");
  }
  const at::Tensor t = at::arange(length, options).mul_(static_cast<double>(stride));
  const config::Range& r = ranges_.at(level);
  const at::Tensor rest =
      at::tensor({r[0], r[1], static_cast<double>(stride)}, options.dtype(at::kDouble))
          .to(options)
          .expand({length, 3});
  return at::cat({t.unsqueeze(1), rest}, 1);
}

std::vector<at::Tensor> PointGenerator::points(const std::vector<int64_t>& lengths,
                                               const at::TensorOptions& options) const {
  std::vector<at::Tensor> out;
  for (std::size_t l = 0; l < lengths.size(); ++l) out.push_back(level_points(l, lengths[l], options));
  return out;
}

}  // namespace asl::model
