// Feature matrices and the feature files researchers have: NumPy .npy and PyTorch .pt
// (torch.save of a T x D tensor). Tensor-free header: the .pt reader uses LibTorch's
// pickle loader inside its own translation unit.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "data/half.h"

namespace asl::data {

enum class DType { F16, F32 };
const char* dtype_name(DType dtype);  // "f16" | "f32"
DType parse_dtype(const std::string& name);  // throws asl::Error

// T x D, row-major (time-major), float32 in memory whatever the file holds.
struct FeatureMatrix {
  int64_t rows = 0;   // T, time steps
  int64_t cols = 0;   // D, channels
  std::vector<float> values;

  FeatureMatrix() = default;
  FeatureMatrix(int64_t t, int64_t d) : rows(t), cols(d), values(static_cast<size_t>(t * d)) {}
  float& at(int64_t t, int64_t d) { return values[static_cast<size_t>(t * cols + d)]; }
  float at(int64_t t, int64_t d) const { return values[static_cast<size_t>(t * cols + d)]; }
};


// NumPy .npy: format versions 1, 2 and 3; little-endian '<f2' or '<f4'; C order; 2-D.
FeatureMatrix read_npy(const std::string& path);
void write_npy(const std::string& path, const FeatureMatrix& m, DType dtype);  // atomic

// PyTorch .pt written by torch.save of a 2-D float16/float32 tensor (zip format; no Python).
FeatureMatrix read_pt(const std::string& path);
void write_pt(const std::string& path, const FeatureMatrix& m, DType dtype);  // atomic

// By extension (.npy or .pt). Every error names the file and what to do.
FeatureMatrix read_feature_file(const std::string& path);

// Throws asl::Error naming `where` and the first NaN/Inf position.
void check_finite(const FeatureMatrix& m, const std::string& where);

// Per-video features cut to a clip: rows [floor(start * fps), ceil(end * fps)) clamped to
// the video (the convention is documented in docs/data.md).
FeatureMatrix cut_to_clip(const FeatureMatrix& video, double start_sec, double end_sec,
                          double fps);

}  // namespace asl::data
