// What the network computes for a batch, per pyramid level, in the reference's layout
// (PtTransformer.forward after its permutes). The contract between the network
// (asl_model.h), the targets and losses (targets.h, losses.h) and inference.
#pragma once

#include <ATen/core/Tensor.h>

#include <vector>

namespace asl::model {

struct NetworkOutputs {
  std::vector<at::Tensor> cls_logits;  // per level [B, T_l, num_classes]
  std::vector<at::Tensor> offsets;     // per level [B, T_l, 2], in units of the level stride
  std::vector<at::Tensor> masks;       // per level [B, T_l] bool
  std::vector<at::Tensor> points;      // per level [T_l, 4]: t, reg_range lo, hi, stride
};

}  // namespace asl::model
