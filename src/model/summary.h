// `asl inspect CONFIG --params`: the network's module tree with parameter counts.
// No LibTorch in this header: the CLI includes it.
#pragma once

#include <cstdint>
#include <string>

#include "core/config.h"

namespace asl::model {

struct ParameterSummary {
  std::string text;           // the tree, one module per line, then the totals
  int64_t trainable = 0;      // values of parameters that require gradients
  int64_t tensors = 0;        // number of parameter tensors
};

// Builds the network of cfg.model on the CPU and lists its modules down to `max_depth`
// (0 = the model only) with the number of parameter values under each.
ParameterSummary summarize_parameters(const config::Config& cfg, int max_depth = 4);

}  // namespace asl::model
