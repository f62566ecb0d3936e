// asl convert
#include <CLI/CLI.hpp>

#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "cli/commands.h"
#include "data/convert.h"

namespace asl::cli {

void add_convert(CLI::App& app) {
  auto options = std::make_shared<data::ConvertOptions>();
  auto out = std::make_shared<std::string>();
  auto* sub = app.add_subcommand("convert", "official Ego4D moments_*.json -> clip annotations");
  sub->add_option("--moments", options->moments, "official moments_*.json (repeatable)")
      ->required()->check(CLI::ExistingFile)->allow_extra_args(false);
  sub->add_option("--metadata", options->metadata, "ego4d.json video metadata")
      ->check(CLI::ExistingFile);
  sub->add_option("--feature-fps", options->feature_fps, "feature rate in features per second")
      ->capture_default_str()->check(CLI::PositiveNumber);
  sub->add_option("--label-map", options->label_map,
                  "label order file, one name per line (default: built-in Ego4D MQ v1)")
      ->check(CLI::ExistingFile);
  sub->add_option("--out", *out, "clip annotations JSON to write")->required();
  sub->callback([options, out] {
    const data::ConvertReport report = data::convert_to_file(*options, *out);
    std::fputs(data::describe(report).c_str(), stdout);
    std::printf("wrote %s\n", out->c_str());
  });
}

}  // namespace asl::cli
