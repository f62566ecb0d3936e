// PyTorch .pt feature files: one T x D float32 or float16 tensor saved by torch.save. Read
// and written through serialize/torch_file.h, without LibTorch.
#include <string>
#include <vector>

#include "core/error.h"
#include "core/strings.h"
#include "core/fs.h"
#include "data/feature_io.h"
#include "data/half.h"
#include "serialize/torch_file.h"

namespace asl::data {
namespace {

using serialize::ElementType;
using serialize::PyValue;

constexpr const char* kResave =
    "re-save it in Python: torch.save(t.contiguous().float(), path) with t a T x D tensor";

// What a file that is not one tensor holds, for the error message.
std::string describe(const PyValue& v) {
  if (v.kind != PyValue::Kind::kDict) return v.describe();
  std::string keys;
  int shown = 0;
  for (const auto& [key, value] : v.entries) {
    if (key->kind != PyValue::Kind::kString) continue;
    if (shown++ == 4) {
      keys += ", ...";
      break;
    }
    keys += (keys.empty() ? "'" : ", '") + key->text + "'";
  }
  return keys.empty() ? "a dict" : "a dict (keys " + keys + ")";
}

}  // namespace

FeatureMatrix read_pt(const std::string& path) {
  const serialize::TorchFile file(path);
  const PyValue& v = file.root();
  if (v.kind == PyValue::Kind::kObject && v.text.rfind("torch._utils._rebuild_", 0) == 0) {
    throw Error(path,
                "holds a tensor that is not a plain dense tensor (saved through " + v.text +
                    ": sparse, quantized or with a custom class)",
                "re-save it in Python: torch.save(t.to_dense().contiguous().float(), path)");
  }
  if (v.kind != PyValue::Kind::kTensor) {
    throw Error(path, "holds " + describe(v) + ", not a tensor",
                "save the T x D feature tensor itself: torch.save(t, path)");
  }
  const serialize::TensorRef& t = *v.tensor;
  if (t.type != ElementType::kFloat && t.type != ElementType::kHalf) {
    throw Error(path,
                "holds a " + serialize::type_name(t.type) +
                    " tensor; feature files must be torch.float32 or torch.float16",
                kResave);
  }
  if (t.sizes.size() != 2) {
    throw Error(path,
                "holds a tensor of shape " + shape_text(t.sizes) + " (" +
                    std::to_string(t.sizes.size()) +
                    "-D); feature files must be 2-D, T x D (time steps x channels)",
                "save one clip or video per file as a T x D tensor");
  }
  FeatureMatrix m(t.sizes[0], t.sizes[1]);
  if (t.type == ElementType::kFloat) {
    file.read_contiguous(t, "the feature tensor", m.values.data());
    return m;
  }
  std::vector<uint16_t> halves(m.values.size());
  file.read_contiguous(t, "the feature tensor", halves.data());
  for (size_t i = 0; i < halves.size(); ++i) m.values[i] = half_to_float(halves[i]);
  return m;
}

void write_pt(const std::string& path, const FeatureMatrix& m, DType dtype) {
  if (m.rows < 0 || m.cols < 0 || m.values.size() != static_cast<size_t>(m.rows * m.cols)) {
    throw Error(path,
                "the matrix holds " + std::to_string(m.values.size()) + " values for " +
                    std::to_string(m.rows) + " x " + std::to_string(m.cols),
                "this is a bug in the caller");
  }
  const std::vector<int64_t> sizes = {m.rows, m.cols};
  if (dtype == DType::F32) {
    write_file_atomic(path, serialize::torch_save_bytes(ElementType::kFloat, sizes, m.values.data()));
    return;
  }
  std::vector<uint16_t> halves(m.values.size());
  for (size_t i = 0; i < halves.size(); ++i) halves[i] = float_to_half(m.values[i]);
  write_file_atomic(path, serialize::torch_save_bytes(ElementType::kHalf, sizes, halves.data()));
}

}  // namespace asl::data
