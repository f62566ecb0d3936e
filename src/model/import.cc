#include "model/import.h"

#include <torch/torch.h>

#include <algorithm>

#include "core/error.h"
#include "core/strings.h"
#include "model/asl_model.h"
#include "model/native_checkpoint.h"

namespace asl::model {
namespace {

// '*' matches any run of characters (dots included).
bool glob_match(const char* p, const char* s) {
  if (*p == '\0') return *s == '\0';
  if (*p == '*') return glob_match(p + 1, s) || (*s != '\0' && glob_match(p, s + 1));
  return *s == *p && glob_match(p + 1, s + 1);
}

}  // namespace

std::string dead_key_group(const std::string& name, bool use_xl) {
  // The dead parts listed in docs/model.md, most specific first where patterns overlap.
  static const char* const kDead[] = {
      "backbone_m.*",                             // momentum copy of the backbone
      "neck_m.*",                                 // momentum copy of the neck
      "seg_conv.*",                               // computed, output unused
      "backbone.downsample_conv.*",
      "backbone.branch.*.channel_attn.*",         // channel attention of strided blocks
      "*.channel_attn.norm1.*",                   // ChannelBlock.norm1, never called
      "backbone.xlnet.word_embedding.*",          // inputs_embeds is used instead
      "backbone.xlnet.mask_emb",
      "backbone.xlnet.layer.*.rel_attn.r_s_bias",  // no token types
      "backbone.xlnet.layer.*.rel_attn.seg_embed",
  };
  if (!use_xl && glob_match("backbone.xlnet.*", name.c_str())) return "backbone.xlnet.* (use_xl false)";
  for (const char* pattern : kDead) {
    if (glob_match(pattern, name.c_str())) return pattern;
  }
  return "";
}

std::string ImportReport::imported_line() const {
  std::string from;
  for (size_t i = 0; i < sections.size(); ++i) from += (i ? " and " : "") + sections[i];
  std::string line = "imported " + with_commas(live_tensors) + " live tensors (" +
                     with_commas(live_values) + " values) from " + from;
  if (epoch >= 0) line += " (epoch " + std::to_string(epoch) + ")";
  return line;
}

std::string ImportReport::dead_line() const {
  if (dead.empty()) return "skipped no dead keys";
  std::string line = "skipped " + with_commas(static_cast<int64_t>(dead.size())) +
                     " dead tensors (" + with_commas(dead_values) +
                     " values, unused by the live model; docs/model.md):";
  for (size_t i = 0; i < dead_groups.size(); ++i) {
    line += (i ? ", " : " ") + dead_groups[i].first + " " + std::to_string(dead_groups[i].second);
  }
  return line;
}

ImportReport import_reference_checkpoint(const std::string& checkpoint, const config::Config& cfg,
                                         const std::string& out) {
  const TorchFile file(checkpoint);
  const PyValue& root = file.root();
  if (root.kind != PyValue::Kind::kDict) {
    throw Error(checkpoint, "holds " + root.describe() + ", not a checkpoint dict",
                "pass a checkpoint saved by the reference's train.py (a .pth.tar)");
  }
  const PyValue* state = root.get("state_dict");
  const PyValue* ema = root.get("state_dict_ema");
  const bool bare = !state && !ema;
  if (bare && (root.entries.empty() || root.entries[0].second->kind != PyValue::Kind::kTensor)) {
    throw Error(checkpoint, "has neither state_dict nor state_dict_ema",
                "pass a checkpoint saved by the reference's train.py (a .pth.tar)");
  }

  torch::NoGradGuard no_grad;
  PtTransformer model(cfg);
  const bool use_xl = cfg.model.use_xl;

  ImportReport report;
  NativeWeights native;
  native.source = "asl import " + checkpoint.substr(checkpoint.find_last_of('/') + 1);
  if (const PyValue* e = root.get("epoch"); e && e->kind == PyValue::Kind::kInt) {
    native.epoch = report.epoch = e->integer;
  }
  auto map = [&](const PyValue& dict, const std::string& section) {
    MappedWeights m = map_reference_weights(file, dict, section, *model, use_xl);
    if (report.sections.empty()) {
      for (const std::string& name : m.dead) {  // groups in first-seen order
        const std::string g = dead_key_group(name, use_xl);
        auto it = std::find_if(report.dead_groups.begin(), report.dead_groups.end(),
                               [&](const auto& e) { return e.first == g; });
        if (it == report.dead_groups.end()) report.dead_groups.emplace_back(g, 1);
        else ++it->second;
      }
      report.dead = m.dead;
      report.dead_values = m.dead_values;
      report.live_tensors = static_cast<int64_t>(m.live.size());
      for (const auto& [name, t] : m.live) report.live_values += t.numel();
    }
    report.sections.push_back(section);
    return std::move(m.live);
  };
  if (bare) native.model = map(root, "the state dict");
  if (state) native.model = map(*state, "state_dict");
  if (ema) {
    native.model_ema = map(*ema, "state_dict_ema");
    if (!state) native.model = native.model_ema;
  }
  write_native_weights(out, native);
  return report;
}

}  // namespace asl::model
