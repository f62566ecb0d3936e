// `asl import`: a reference PyTorch checkpoint mapped onto this project's model by
// state-dict name (docs/model.md lists the names), written as a native checkpoint (layout in
// model/state_dict.h). No LibTorch here: the command and its report need no tensors.
//
// Mapping rules. A `module.` prefix (DataParallel) is stripped. Every live parameter of the
// model built from the config must be present with the same shape; a checkpoint key that is
// not a parameter of the model must be one of the reference's known dead parts (listed in
// docs/model.md and by dead_key_group), which are skipped and reported in one summary line.
// Anything else (missing, unexpected, mis-shaped or non-floating key) is an error naming every
// such key, and no output is written. Weights are converted to the model's float32.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "core/config.h"

namespace asl::model {

// The group of a known dead key of a reference state dict (docs/model.md, "Not built")
// as a short pattern, e.g. "backbone_m.*"; "" for a key that is not known dead. With use_xl
// false the whole XLNet layer is dead. `name` is without the `module.` prefix.
std::string dead_key_group(const std::string& name, bool use_xl);

struct ImportReport {
  std::vector<std::string> sections;  // read, in order: "state_dict", "state_dict_ema"
  int64_t live_tensors = 0;           // per section
  int64_t live_values = 0;
  std::vector<std::string> dead;      // skipped keys of the first section
  std::vector<std::pair<std::string, int64_t>> dead_groups;  // dead_key_group -> count
  int64_t dead_values = 0;
  int64_t epoch = -1;

  // "imported 212 live tensors (120,969 values) from state_dict and state_dict_ema (epoch 7)"
  std::string imported_line() const;
  // "skipped 272 dead tensors (185,573 values, unused by the live model; docs/model.md): backbone_m.* 220, ..."
  std::string dead_line() const;
};

// `asl import`: reads the reference checkpoint at `checkpoint`, maps `state_dict` and/or
// `state_dict_ema` (or a bare state dict) onto the model built from cfg.model and writes
// the native checkpoint to `out` (model <- state_dict, or state_dict_ema without it;
// model_ema <- state_dict_ema). Throws asl::Error; nothing is written then.
ImportReport import_reference_checkpoint(const std::string& checkpoint, const config::Config& cfg,
                                         const std::string& out);

}  // namespace asl::model
