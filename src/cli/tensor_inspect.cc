// The tensor parts of `asl inspect` (commands.h), in asl-torch.
#include <algorithm>
#include <cstdio>
#include <sstream>
#include <string>
#include <vector>

#include "cli/commands.h"
#include "cli/inspect_summaries.h"
#include "core/config.h"
#include "core/strings.h"
#include "model/native_checkpoint.h"
#include "model/summary.h"
#include "serialize/crc32.h"
#include "train/checkpoint.h"

namespace asl::cli {
namespace {

int64_t parameter_count(const model::NamedTensors& tensors) {
  int64_t n = 0;
  for (const auto& [name, t] : tensors) n += t.numel();
  return n;
}

// The CRC-32 of every tensor's values in the stored order: two checkpoints with the same
// digest hold the same weights bit for bit (how the kill-and-resume test compares runs).
std::string weights_digest(const model::NamedTensors& tensors) {
  uint32_t crc = 0;
  for (const auto& [name, t] : tensors) {
    const at::Tensor c = t.contiguous().cpu();
    crc = serialize::crc32(name.data(), name.size(), crc);
    crc = serialize::crc32(c.data_ptr(), c.nbytes(), crc);
  }
  char text[16];
  std::snprintf(text, sizeof text, "%08x", crc);
  return text;
}

}  // namespace

// A native checkpoint (`asl train` or `asl import`): kind, source, epoch and step, parameter
// count, EMA weights, optimizer state, the stored config's model-defining keys, file size.
// Throws asl::Error naming the path for a file that is not one.
std::string inspect_checkpoint(const std::string& path) {
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
    out << "weights digest: " << weights_digest(c.model);
    if (!c.model_ema.empty()) out << ", EMA " << weights_digest(c.model_ema);
    out << " (CRC-32 of the values)\n";
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
    out << "weights digest: " << weights_digest(w.model);
    if (!w.model_ema.empty()) out << ", EMA " << weights_digest(w.model_ema);
    out << " (CRC-32 of the values)\n";
  }
  out << "size: " << size_text(path) << "\n";
  return out.str();
}

std::string inspect_parameters(const std::string& config,
                               const std::vector<std::string>& overrides) {
  return model::summarize_parameters(config::load_config(config, overrides)).text;
}

}  // namespace asl::cli
