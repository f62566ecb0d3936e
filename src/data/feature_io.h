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

// Every reader and writer below throws asl::Error naming the file, the problem and the fix;
// writers go through asl::AtomicFile, so a failure leaves no file behind. The formats are
// described in docs/feature-files.md.

// NumPy .npy: format versions 1, 2 and 3; little-endian '<f2' or '<f4'; C order; 2-D.
// Anything else (big-endian, Fortran order, other dtypes or ranks, truncated data, extra
// bytes, a bad magic or header) is an error. Writes version 1 (2 if the header is huge).
FeatureMatrix read_npy(const std::string& path);
void write_npy(const std::string& path, const FeatureMatrix& m, DType dtype);  // atomic

// PyTorch .pt written by torch.save of a 2-D float16/float32 tensor (zip format; no Python).
// Views are read as their logical values (offset and strides honoured). The legacy non-zip
// format, containers (dict, list), other ranks and dtypes are errors. write_pt writes a
// file that Python's torch.load reads back as the same T x D tensor.
FeatureMatrix read_pt(const std::string& path);
void write_pt(const std::string& path, const FeatureMatrix& m, DType dtype);  // atomic

// By extension (.npy, or .pt / .pth), case-insensitive.
FeatureMatrix read_feature_file(const std::string& path);

// Throws asl::Error naming `where`, the number of NaN/Inf values and the first one's row
// (time step) and column (channel).
void check_finite(const FeatureMatrix& m, const std::string& where);

// Per-video features cut to a clip that spans [start_sec, end_sec) of its video, at `fps`
// feature rows per second. Row i is taken to cover [i / fps, (i + 1) / fps) seconds, and
// the clip gets every row that overlaps its span: rows [floor(start * fps), ceil(end * fps)),
// clamped to [0, video.rows). Products within 1e-6 of an integer count as that integer, so
// decimal seconds do not gain or lose a row to rounding. Throws asl::Error naming `where`
// (the clip) when fps is not positive, the span is empty, or no row overlaps it.
FeatureMatrix cut_to_clip(const FeatureMatrix& video, double start_sec, double end_sec, double fps,
                          const std::string& where = "clip");

}  // namespace asl::data
