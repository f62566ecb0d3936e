#include "train/checkpoint.h"

#include <dirent.h>
#include <spdlog/spdlog.h>
#include <torch/serialize.h>
#include <torch/serialize/archive.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <chrono>
#include <csignal>
#include <cstdlib>
#include <cstdio>
#include <cstring>
#include <sstream>
#include <thread>

#include "core/error.h"
#include "core/failpoint.h"
#include "core/strings.h"
#include "core/fs.h"
#include "model/native_checkpoint.h"

namespace asl::train {
namespace {

constexpr int64_t kTrainVersion = 1;   // the `train` archive; the rest is model/native_checkpoint.h's

void write_tensors(torch::serialize::OutputArchive& parent, const std::string& key,
                   const model::NamedTensors& tensors) {
  torch::serialize::OutputArchive a;
  for (const auto& [name, t] : tensors) a.write(name, t);
  parent.write(key, a);
}

model::NamedTensors read_tensors(torch::serialize::InputArchive& parent, const std::string& key) {
  torch::serialize::InputArchive a;
  model::NamedTensors out;
  if (!parent.try_read(key, a)) return out;
  for (const std::string& name : a.keys()) {
    at::Tensor t;
    a.read(name, t);
    out.emplace_back(name, t);
  }
  return out;
}

c10::IValue read_value(torch::serialize::InputArchive& a, const std::string& key,
                       const std::string& path) {
  c10::IValue v;
  if (!a.try_read(key, v)) {
    throw Error(path, "training checkpoint lacks the key train/" + key,
                "the file is damaged or from another asl version; use another checkpoint");
  }
  return v;
}

int64_t read_int(torch::serialize::InputArchive& a, const std::string& key, const std::string& path) {
  const c10::IValue v = read_value(a, key, path);
  if (!v.isInt()) throw Error(path, "train/" + key + " is not an integer", "use another checkpoint");
  return v.toInt();
}

double read_double(torch::serialize::InputArchive& a, const std::string& key,
                   const std::string& path) {
  const c10::IValue v = read_value(a, key, path);
  if (!v.isDouble()) throw Error(path, "train/" + key + " is not a number", "use another checkpoint");
  return v.toDouble();
}

// Opens `path` and checks the format key; returns whether a `train` archive exists.
bool open_native(const std::string& path, torch::serialize::InputArchive& archive,
                 torch::serialize::InputArchive& train) {
  model::load_native_archive(path, archive);
  return archive.try_read("train", train);
}

std::vector<std::pair<int64_t, std::string>> epoch_files(const std::string& dir) {
  std::vector<std::pair<int64_t, std::string>> out;
  DIR* d = opendir(dir.c_str());
  if (!d) return out;
  while (const dirent* e = readdir(d)) {
    const std::string name = e->d_name;
    long long n = 0;
    char tail[8] = {0};
    // epoch_<digits>.ckpt and nothing else (not the AtomicFile's temporaries)
    if (std::sscanf(name.c_str(), "epoch_%lld.ck%7s", &n, tail) == 2 && std::strcmp(tail, "pt") == 0 &&
        name == epoch_checkpoint_name(n)) {
      out.emplace_back(n, name);
    }
  }
  closedir(d);
  std::sort(out.rbegin(), out.rend());  // newest first
  return out;
}

// The node at a dotted key path, or an undefined node. (Recursion, not assignment: assigning
// a yaml-cpp Node writes into the node it refers to.)
YAML::Node at_path(const YAML::Node& node, const std::string& key_path) {
  if (!node.IsMap()) return YAML::Node(YAML::NodeType::Undefined);
  const size_t dot = key_path.find('.');
  const YAML::Node child = node[key_path.substr(0, dot)];
  if (dot == std::string::npos || !child.IsDefined()) return child;
  return at_path(child, key_path.substr(dot + 1));
}

std::string dump(const YAML::Node& n) {
  if (!n.IsDefined()) return "(absent)";
  YAML::Emitter e;
  e.SetMapFormat(YAML::Flow);
  e.SetSeqFormat(YAML::Flow);
  e << n;
  return e.c_str();
}

}  // namespace

std::string epoch_checkpoint_name(int64_t epoch) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "epoch_%04lld.ckpt", static_cast<long long>(epoch));
  return buf;
}

namespace {

// Failpoint checkpoint_write@EPOCH (core/failpoint.h): SIGKILL half-way through writing that
// epoch's checkpoint, as a node failure would, so tests can prove that the previous
// checkpoint survives and `--resume auto` continues from it.
void maybe_die_while_writing(const std::string& path, int64_t epoch,
                             torch::serialize::OutputArchive& archive) {
  if (!failpoint_is("checkpoint_write", std::to_string(epoch))) return;
  std::ostringstream bytes;
  archive.save_to(bytes);
  const std::string all = bytes.str();
  AtomicFile file(path);
  std::FILE* out = std::fopen(file.temp_path().c_str(), "wb");
  if (out) {
    std::fwrite(all.data(), 1, all.size() / 2, out);
    std::fflush(out);
  }
  spdlog::warn("ASL_FAILPOINT: killing the process while writing {}", path);
  std::raise(SIGKILL);
}

// Failpoint checkpoint_slow@SECONDS: every checkpoint write takes that much longer, as a slow
// shared disk would (the other ranks must wait it out).
void maybe_write_slowly() {
  const auto arg = failpoint("checkpoint_slow");
  if (!arg) return;
  const double seconds = std::atof(arg->c_str());
  spdlog::warn("ASL_FAILPOINT: writing the checkpoint {} s slower", seconds);
  std::this_thread::sleep_for(std::chrono::duration<double>(seconds));
}

}  // namespace

void write_checkpoint(const std::string& path, const TrainingCheckpoint& c) {
  maybe_write_slowly();
  torch::serialize::OutputArchive archive;
  model::write_weights_to(archive, {c.model, c.model_ema, c.epoch, c.source});

  torch::serialize::OutputArchive train;
  train.write("train_version", c10::IValue(kTrainVersion));
  train.write("global_step", c10::IValue(c.global_step));
  train.write("schedule_step", c10::IValue(c.schedule_step));
  train.write("schedule_lr", c10::IValue(c.schedule_lr));
  train.write("loss_normalizer", c10::IValue(c.loss_normalizer));
  train.write("loader_seed", c10::IValue(c.loader_seed));
  train.write("loader_position", c10::IValue(c.loader_position));
  train.write("config", c10::IValue(c.config_yaml));
  if (c.rng_cpu.defined()) train.write("rng_cpu", c.rng_cpu);
  if (!c.rng_cpu_ranks.empty()) {
    torch::serialize::OutputArchive ranks;
    for (size_t r = 0; r < c.rng_cpu_ranks.size(); ++r) ranks.write(std::to_string(r), c.rng_cpu_ranks[r]);
    train.write("rng_cpu_ranks", ranks);
  }
  write_tensors(train, "buffers", c.buffers);
  write_tensors(train, "ema_buffers", c.ema_buffers);
  torch::serialize::OutputArchive optimizer;
  for (const AdamParamState& s : c.optimizer) {
    torch::serialize::OutputArchive p;
    p.write("step", c10::IValue(s.step));
    p.write("exp_avg", s.exp_avg);
    p.write("exp_avg_sq", s.exp_avg_sq);
    optimizer.write(s.name, p);
  }
  train.write("optimizer", optimizer);
  archive.write("train", train);

  maybe_die_while_writing(path, c.epoch, archive);
  if (failpoint_is("sigterm_in_checkpoint", std::to_string(c.epoch))) {
    spdlog::warn("ASL_FAILPOINT: SIGTERM while writing {}", path);
    std::raise(SIGTERM);
  }
  model::save_archive_atomic(path, archive);
}

bool is_training_checkpoint(const std::string& path) {
  torch::serialize::InputArchive archive, train;
  return open_native(path, archive, train);
}

TrainingCheckpoint read_checkpoint(const std::string& path) {
  torch::serialize::InputArchive archive, train;
  if (!open_native(path, archive, train)) {
    throw Error(path, "holds weights only (no training state) and cannot be resumed",
                "start from its weights with --init instead of --resume");
  }
  TrainingCheckpoint c;
  try {
    c.epoch = read_int(archive, "epoch", path);
    c10::IValue source;
    if (archive.try_read("source", source) && source.isString()) c.source = source.toStringRef();
    c.model = read_tensors(archive, "model");
    c.model_ema = read_tensors(archive, "model_ema");
    if (read_int(train, "train_version", path) != kTrainVersion) {
      throw Error(path, "has an unknown training-state version", "use the asl build that wrote it");
    }
    c.global_step = read_int(train, "global_step", path);
    c.schedule_step = read_int(train, "schedule_step", path);
    c.schedule_lr = read_double(train, "schedule_lr", path);
    c.loss_normalizer = read_double(train, "loss_normalizer", path);
    c.loader_seed = read_int(train, "loader_seed", path);
    c.loader_position = read_int(train, "loader_position", path);
    const c10::IValue yaml = read_value(train, "config", path);
    if (!yaml.isString()) throw Error(path, "train/config is not text", "use another checkpoint");
    c.config_yaml = yaml.toStringRef();
    at::Tensor rng;
    if (train.try_read("rng_cpu", rng)) c.rng_cpu = rng;
    torch::serialize::InputArchive ranks;
    if (train.try_read("rng_cpu_ranks", ranks)) {
      for (size_t r = 0;; ++r) {
        at::Tensor state;
        if (!ranks.try_read(std::to_string(r), state)) break;
        c.rng_cpu_ranks.push_back(state);
      }
    }
    c.buffers = read_tensors(train, "buffers");
    c.ema_buffers = read_tensors(train, "ema_buffers");
    torch::serialize::InputArchive optimizer;
    if (train.try_read("optimizer", optimizer)) {
      for (const std::string& name : optimizer.keys()) {
        torch::serialize::InputArchive p;
        optimizer.read(name, p);
        AdamParamState s;
        s.name = name;
        s.step = read_int(p, "step", path);
        p.read("exp_avg", s.exp_avg);
        p.read("exp_avg_sq", s.exp_avg_sq);
        c.optimizer.push_back(std::move(s));
      }
    }
  } catch (const c10::Error& e) {
    throw Error(path, "cannot read the training state (truncated or corrupted?): " +
                          first_line(e.what_without_backtrace()),
                "use another checkpoint");
  }
  if (c.model.empty()) throw Error(path, "holds no model weights", "use another checkpoint");
  return c;
}

void check_same_architecture(const std::string& path, const std::string& checkpoint_yaml,
                             const config::Config& cfg) {
  YAML::Node theirs, ours;
  try {
    theirs = YAML::Load(checkpoint_yaml);
  } catch (const YAML::Exception& e) {
    throw Error(path, std::string("the config stored in the checkpoint does not parse: ") + e.what(),
                "use another checkpoint");
  }
  ours = YAML::Load(config::to_yaml(cfg));
  for (const std::string& key : config::key_paths()) {
    const bool defines_model = key.rfind("model.", 0) == 0 || key == "dataset.input_dim" ||
                               key == "dataset.num_classes" || key == "dataset.max_seq_len";
    if (!defines_model) continue;
    const std::string a = dump(at_path(theirs, key)), b = dump(at_path(ours, key));
    if (a != b) {
      throw Error(path, "is a checkpoint of another architecture: " + key + " is " + a +
                            " there and " + b + " in this config",
                  "resume with the config it was trained with, or start a new output folder");
    }
  }
}

std::optional<std::string> stored_config_value(const std::string& checkpoint_yaml,
                                               const std::string& key_path) {
  try {
    const YAML::Node n = at_path(YAML::Load(checkpoint_yaml), key_path);
    if (!n.IsDefined() || n.IsNull()) return std::nullopt;
    return n.IsScalar() ? n.Scalar() : dump(n);
  } catch (const YAML::Exception&) {
    return std::nullopt;
  }
}

std::optional<std::string> find_resume_checkpoint(const std::string& dir) {
  std::vector<std::string> candidates;
  const std::string sep = (!dir.empty() && dir.back() == '/') ? "" : "/";
  if (path_exists(dir + sep + kLastCheckpoint)) candidates.push_back(dir + sep + kLastCheckpoint);
  for (const auto& [n, name] : epoch_files(dir)) candidates.push_back(dir + sep + name);
  for (const std::string& path : candidates) {
    try {
      read_checkpoint(path);
      return path;
    } catch (const Error& e) {
      spdlog::warn("skipping checkpoint {}: {}", path, e.what());
    }
  }
  return std::nullopt;
}

std::vector<std::string> rotate_checkpoints(const std::string& dir, int64_t keep) {
  std::vector<std::string> removed;
  if (keep <= 0) return removed;
  const auto files = epoch_files(dir);
  const std::string sep = (!dir.empty() && dir.back() == '/') ? "" : "/";
  for (size_t i = static_cast<size_t>(keep); i < files.size(); ++i) {
    if (std::remove((dir + sep + files[i].second).c_str()) == 0) removed.push_back(files[i].second);
  }
  return removed;
}

}  // namespace asl::train
