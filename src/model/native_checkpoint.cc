#include "model/native_checkpoint.h"

#include <torch/torch.h>

#include <sstream>

#include "core/error.h"
#include "core/fs.h"
#include "core/strings.h"
#include "serialize/zip_reader.h"

namespace asl::model {
namespace {

constexpr const char* kFormat = "asl-checkpoint";
constexpr int64_t kVersion = 1;

NamedTensors archive_tensors(torch::serialize::InputArchive& archive) {
  NamedTensors out;
  for (const std::string& key : archive.keys()) {
    at::Tensor t;
    archive.read(key, t);
    out.emplace_back(key, t);
  }
  return out;
}

}  // namespace

void write_weights_to(torch::serialize::OutputArchive& archive, const NativeWeights& weights) {
  archive.write("format", c10::IValue(std::string(kFormat)));
  archive.write("version", c10::IValue(kVersion));
  archive.write("epoch", c10::IValue(weights.epoch));
  archive.write("source", c10::IValue(weights.source));
  torch::serialize::OutputArchive model;
  for (const auto& [name, t] : weights.model) model.write(name, t);
  archive.write("model", model);
  if (!weights.model_ema.empty()) {
    torch::serialize::OutputArchive ema;
    for (const auto& [name, t] : weights.model_ema) ema.write(name, t);
    archive.write("model_ema", ema);
  }
}

void save_archive_atomic(const std::string& path, torch::serialize::OutputArchive& archive) {
  std::ostringstream bytes;
  try {
    archive.save_to(bytes);
  } catch (const c10::Error& e) {
    throw Error(path, "cannot serialize the checkpoint: " + first_line(e.what_without_backtrace()));
  }
  write_file_atomic(path, bytes.str());
}

void write_native_weights(const std::string& path, const NativeWeights& weights) {
  torch::serialize::OutputArchive archive;
  write_weights_to(archive, weights);
  save_archive_atomic(path, archive);
}

void load_native_archive(const std::string& path, torch::serialize::InputArchive& archive) {
  if (!path_exists(path)) throw Error(path, "no such checkpoint", "check the path");
  // Torch's reader checks no checksum: a flipped byte in a weight would load silently.
  try {
    serialize::ZipReader(path).verify_checksums();
  } catch (const Error& e) {
    throw Error(std::string(e.what()) +
                "; an earlier checkpoint of the run (epoch_NNNN.ckpt) may be intact");
  }
  try {
    archive.load_from(path);
  } catch (const c10::Error& e) {
    throw Error(path, "cannot read the checkpoint (truncated or not an asl checkpoint): " +
                          first_line(e.what_without_backtrace()),
                "use another checkpoint or re-create it");
  }
  c10::IValue format, version;
  if (!archive.try_read("format", format) || !format.isString() ||
      format.toStringRef() != kFormat) {
    throw Error(path, "is not a native checkpoint of this project (no format asl-checkpoint)",
                "reference checkpoints are converted with `asl import`");
  }
  if (!archive.try_read("version", version) || !version.isInt() || version.toInt() != kVersion) {
    throw Error(path, "has checkpoint format version " +
                          (version.isInt() ? std::to_string(version.toInt()) : std::string("?")) +
                          "; this build reads version " + std::to_string(kVersion),
                "use the asl build that wrote it");
  }
}

NativeWeights read_native_weights(const std::string& path) {
  torch::serialize::InputArchive archive;
  load_native_archive(path, archive);
  NativeWeights w;
  try {
    c10::IValue epoch, source;
    if (archive.try_read("epoch", epoch) && epoch.isInt()) w.epoch = epoch.toInt();
    if (archive.try_read("source", source) && source.isString()) w.source = source.toStringRef();
    torch::serialize::InputArchive model, ema;
    archive.read("model", model);
    w.model = archive_tensors(model);
    if (archive.try_read("model_ema", ema)) w.model_ema = archive_tensors(ema);
  } catch (const c10::Error& e) {
    throw Error(path, "cannot read the checkpoint (truncated or corrupted?): " +
                          first_line(e.what_without_backtrace()),
                "re-create it");
  }
  return w;
}

}  // namespace asl::model
