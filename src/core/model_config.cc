// The model section's derived sizes. Apart from config.cc (YAML) so that the model builds
// without yaml-cpp (scripts/gpu_check compiles the model against a bare PyTorch install).
#include <algorithm>
#include <cstdint>
#include <vector>

#include "core/config.h"

namespace asl::config {

int64_t ModelConfig::n_embd() const {
  int64_t sum = 0;
  for (int64_t e : embd_dim.values) sum += e;
  return sum;
}

int64_t ModelConfig::num_levels() const {
  return backbone_arch.size() == 3 ? backbone_arch[2] + 1 - fpn_start_level : 0;
}

std::vector<int64_t> ModelConfig::fpn_strides() const {
  std::vector<int64_t> strides;
  if (backbone_arch.size() != 3) return strides;
  for (int64_t l = fpn_start_level; l <= backbone_arch[2]; ++l) {
    int64_t s = 1;
    for (int64_t i = 0; i < l; ++i) s *= scale_factor;
    strides.push_back(s);
  }
  return strides;
}

std::vector<int64_t> ModelConfig::mha_win_sizes() const {
  const std::size_t n = backbone_arch.size() == 3 ? backbone_arch[2] + 1 : 0;
  if (n_mha_win_size.is_list) return n_mha_win_size.values;
  return std::vector<int64_t>(n, n_mha_win_size.values.empty() ? -1 : n_mha_win_size.values[0]);
}

int64_t ModelConfig::max_div_factor() const {
  const auto strides = fpn_strides();
  const auto windows = mha_win_sizes();
  int64_t factor = 1;
  for (std::size_t l = 0; l < strides.size() && l + fpn_start_level < windows.size(); ++l) {
    const int64_t w = windows[l + fpn_start_level];
    factor = std::max(factor, w > 1 ? strides[l] * (w / 2) * 2 : strides[l]);
  }
  return factor;
}

}  // namespace asl::config
