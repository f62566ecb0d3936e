// Candidate points per pyramid level (reference loc_generators.py PointGenerator):
// level l with stride s has points t = 0, s, 2s, ... (level-0 grid
// units), each row [t, regression range lo, hi, s]. The reference buffers
// max_seq_len * max_buffer_len_factor steps of points and refuses longer levels; so
// does this generator.
#pragma once

#include <ATen/core/Tensor.h>

#include <array>
#include <cstdint>
#include <vector>

#include "core/config.h"

namespace asl::model {

class PointGenerator {
 public:
  explicit PointGenerator(const config::ModelConfig& cfg);

  // Points of one level with T_l steps [T_l, 4].
  at::Tensor level_points(std::size_t level, int64_t length, const at::TensorOptions& options) const;
  // Points of every level, for the given per-level lengths.
  std::vector<at::Tensor> points(const std::vector<int64_t>& lengths,
                                 const at::TensorOptions& options) const;

  const std::vector<int64_t>& strides() const { return strides_; }

 private:
  double buffer_len_;  // max_seq_len * max_buffer_len_factor
  std::vector<int64_t> strides_;
  std::vector<config::Range> ranges_;
};

}  // namespace asl::model
