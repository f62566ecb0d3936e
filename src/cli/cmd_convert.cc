// asl convert
#include <CLI/CLI.hpp>

#include <memory>
#include <string>
#include <vector>

#include "cli/commands.h"
#include "core/error.h"

namespace asl::cli {

void add_convert(CLI::App& app) {
  struct Args {
    std::vector<std::string> moments;
    std::string metadata, out, label_map;
    double feature_fps = 1.875;
  };
  auto a = std::make_shared<Args>();
  auto* sub = app.add_subcommand("convert", "official Ego4D moments_*.json -> clip annotations");
  sub->add_option("--moments", a->moments, "official moments_*.json (repeatable)")
      ->required()->check(CLI::ExistingFile)->allow_extra_args(false);
  sub->add_option("--metadata", a->metadata, "ego4d.json video metadata")->check(CLI::ExistingFile);
  sub->add_option("--feature-fps", a->feature_fps, "feature rate in features per second")
      ->capture_default_str()->check(CLI::PositiveNumber);
  sub->add_option("--label-map", a->label_map, "label order file (default: built-in Ego4D MQ v1)")
      ->check(CLI::ExistingFile);
  sub->add_option("--out", a->out, "clip annotations JSON to write")->required();
  sub->callback([a] { throw NotImplemented("convert"); });
}

}  // namespace asl::cli
