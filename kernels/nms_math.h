// The arithmetic of 1-D NMS shared by the CPU reference and the CUDA kernels: the same float32
// operations, in the same order, as the reference's extension (and infer/nms.cc).
#pragma once

#include <cmath>

#include "kernels/hd.h"

namespace asl::kernels {

// x2 − x1 + 1e-6, as the extension computes segment lengths.
ASL_HD float nms_length(float start, float end) { return (end - start) + 1e-6f; }

// IoU of two segments with their padded lengths; the intersection is clamped at 0.
ASL_HD float nms_overlap(float i_start, float i_end, float i_len, float j_start, float j_end,
                         float j_len) {
  const float inter = hd_max(0.f, hd_min(i_end, j_end) - hd_max(i_start, j_start));
  return inter / (i_len + j_len - inter);
}

// Gaussian soft-NMS weight: exp(−iou² / σ) (σ, not 2σ², as the extension has it).
ASL_HD float soft_nms_weight(float iou, float sigma) {
#if defined(__CUDA_ARCH__)
  return expf(-(iou * iou) / sigma);
#else
  return std::exp(-(iou * iou) / sigma);
#endif
}

}  // namespace asl::kernels
