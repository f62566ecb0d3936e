#include "model/summary.h"

#include <algorithm>
#include <sstream>
#include <string>
#include <vector>

#include "model/asl_model.h"

namespace asl::model {
namespace {

// 222065422 -> "222,065,422".
std::string with_commas(int64_t n) {
  std::string digits = std::to_string(n);
  std::string out;
  for (std::size_t i = 0; i < digits.size(); ++i) {
    if (i > 0 && (digits.size() - i) % 3 == 0) out += ',';
    out += digits[i];
  }
  return out;
}

// The type name without namespace and the LibTorch "Impl" suffix.
std::string type_name(const torch::nn::Module& m) {
  std::string name = m.name();
  const auto colon = name.rfind("::");
  if (colon != std::string::npos) name = name.substr(colon + 2);
  if (name.size() > 4 && name.compare(name.size() - 4, 4, "Impl") == 0) name.resize(name.size() - 4);
  return name;
}

int64_t count_values(const torch::nn::Module& m) {
  int64_t n = 0;
  for (const at::Tensor& p : m.parameters(/*recurse=*/true)) {
    if (p.requires_grad()) n += p.numel();
  }
  return n;
}

struct Line {
  std::string label;
  int64_t values;
};

void walk(const torch::nn::Module& m, const std::string& name, int depth, int max_depth,
          std::vector<Line>& lines) {
  const int64_t values = count_values(m);
  if (values == 0 && depth > 0) return;  // activations, identities, dropouts
  std::string label = std::string(2 * static_cast<std::size_t>(depth), ' ') + name;
  label += " (" + type_name(m) + ")";
  lines.push_back({label, values});
  // A MaskedConv1D is one convolution: its `conv` child adds nothing to read.
  if (depth == max_depth || type_name(m) == "MaskedConv1D") return;
  // Own parameters of modules with children (the Gaussians of the model).
  if (!m.children().empty()) {
    for (const auto& p : m.named_parameters(/*recurse=*/false)) {
      const std::string pad(2 * static_cast<std::size_t>(depth + 1), ' ');
      lines.push_back({pad + p.key() + " " + c10::str(p.value().sizes()), p.value().numel()});
    }
  }
  for (const auto& child : m.named_children()) {
    walk(*child.value(), child.key(), depth + 1, max_depth, lines);
  }
}

}  // namespace

ParameterSummary summarize_parameters(const config::Config& cfg, int max_depth) {
  PtTransformer model(cfg);
  std::vector<Line> lines;
  walk(*model, "model", 0, max_depth, lines);

  ParameterSummary summary;
  for (const at::Tensor& p : model->parameters()) {
    ++summary.tensors;
    if (p.requires_grad()) summary.trainable += p.numel();
  }
  std::size_t width = 0;
  for (const Line& l : lines) width = std::max(width, l.label.size());
  std::ostringstream out;
  for (const Line& l : lines) {
    out << l.label << std::string(width + 2 - l.label.size(), ' ') << with_commas(l.values)
        << "\n";
  }
  out << "parameter tensors: " << summary.tensors << "\n";
  out << "trainable values: " << with_commas(summary.trainable) << "\n";
  summary.text = out.str();
  return summary;
}

}  // namespace asl::model
