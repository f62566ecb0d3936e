#include "cli/inspect_summaries.h"

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>

#include "core/error.h"
#include "core/strings.h"
#include "eval/predictions.h"
#include "model/state_dict.h"
#include "train/checkpoint.h"

namespace asl::cli {
namespace {

int64_t parameter_count(const model::NamedTensors& tensors) {
  int64_t n = 0;
  for (const auto& [name, t] : tensors) n += t.numel();
  return n;
}

std::string size_text(const std::string& path) {
  std::error_code ec;
  const auto bytes = std::filesystem::file_size(path, ec);
  if (ec) return "?";
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f MB", static_cast<double>(bytes) / 1e6);
  return with_commas(static_cast<int64_t>(bytes)) + " bytes (" + buf + ")";
}

}  // namespace

std::string summarize_checkpoint(const std::string& path) {
  std::ostringstream out;
  if (train::is_training_checkpoint(path)) {
    const train::TrainingCheckpoint c = train::read_checkpoint(path);
    out << "training checkpoint (" << c.source << ")\n";
    out << "epoch " << c.epoch << " completed, global step " << c.global_step;
    if (c.loader_position > 0) out << ", " << c.loader_position << " batches into the next epoch";
    out << "\n";
    out << "parameters: " << c.model.size() << " tensors, " << with_commas(parameter_count(c.model))
        << " values\n";
    out << "EMA weights: " << (c.model_ema.empty() ? "no" : "yes") << "\n";
    out << "optimizer state: " << c.optimizer.size() << " parameters; learning rate "
        << c.schedule_lr << ", loss normalizer " << c.loss_normalizer << "\n";
    out << "ranks that wrote it: " << std::max<size_t>(1, c.rng_cpu_ranks.size()) << "\n";
    out << "config:";
    for (const char* key : {"dataset.input_dim", "dataset.num_classes", "dataset.max_seq_len",
                            "model.backbone_arch", "model.embd_dim", "model.fpn_dim",
                            "opt.epochs", "opt.warmup_epochs", "loader.batch_size"}) {
      const auto v = train::stored_config_value(c.config_yaml, key);
      if (v) out << " " << key << "=" << *v << ";";
    }
    out << "\n";
  } else {
    const model::NativeWeights w = model::read_native_weights(path);
    out << "weights (" << (w.source.empty() ? "unknown source" : w.source) << ")\n";
    if (w.epoch >= 0) out << "epoch " << w.epoch << "\n";
    out << "parameters: " << w.model.size() << " tensors, " << with_commas(parameter_count(w.model))
        << " values\n";
    out << "EMA weights: " << (w.model_ema.empty() ? "no" : "yes") << "\n";
  }
  out << "size: " << size_text(path) << "\n";
  return out.str();
}

std::string summarize_predictions(const std::string& path) {
  const eval::PredictionFile file = eval::read_predictions(path);
  const eval::PredictionList& list = *file.detection;
  int64_t count = 0, empty = 0;
  double lo = 0, hi = 0;
  std::map<std::string, int64_t> per_class;
  for (const auto& clip : list) {
    if (clip.predictions.empty()) ++empty;
    for (const auto& p : clip.predictions) {
      if (count == 0) lo = hi = p.score;
      lo = std::min(lo, p.score);
      hi = std::max(hi, p.score);
      ++count;
      ++per_class[p.label];
    }
  }
  std::ostringstream out;
  out << "predictions: " << list.size() << " clips (" << empty << " without predictions), "
      << count << " predictions";
  if (!list.empty()) out << " (" << count / static_cast<int64_t>(list.size()) << " per clip on average)";
  out << "\n";
  if (count > 0) out << "scores: " << lo << " to " << hi << "\n";
  std::vector<std::pair<int64_t, std::string>> classes;
  for (const auto& [label, n] : per_class) classes.emplace_back(n, label);
  std::sort(classes.rbegin(), classes.rend());
  out << "classes: " << classes.size();
  for (size_t i = 0; i < classes.size() && i < 5; ++i) {
    out << (i ? ", " : " (most predicted: ") << classes[i].second << " " << classes[i].first;
  }
  out << (classes.empty() ? "" : ")") << "\n";
  out << "retrieval lists: "
      << (file.retrieval == file.detection ? "the same as detection" : "separate") << "\n";
  return out.str();
}

bool looks_like_predictions(const std::string& path) {
  std::ifstream in(path);
  std::string head(4096, '\0');
  in.read(head.data(), static_cast<std::streamsize>(head.size()));
  head.resize(static_cast<size_t>(in.gcount()));
  const size_t brace = head.find('{');
  if (brace == std::string::npos) return false;
  const size_t quote = head.find('"', brace);
  if (quote == std::string::npos) return false;
  const std::string key = head.substr(quote + 1, head.find('"', quote + 1) - quote - 1);
  static const std::set<std::string> keys{"version", "challenge", "detect_results",
                                          "retrieve_results", "results"};
  return keys.count(key) > 0;
}

}  // namespace asl::cli
