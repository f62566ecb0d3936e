// asl convert
#include <CLI/CLI.hpp>

#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "cli/commands.h"
#include "data/convert.h"
#include "data/nlq.h"

namespace asl::cli {

void add_convert(CLI::App& app) {
  auto options = std::make_shared<data::ConvertOptions>();
  auto nlq = std::make_shared<data::NlqConvertOptions>();
  auto out = std::make_shared<std::string>();
  auto* sub = app.add_subcommand(
      "convert", "official Ego4D moments_*.json -> clip annotations, or nlq_*.json -> query list");
  auto* moments =
      sub->add_option("--moments", options->moments, "official moments_*.json (repeatable)")
          ->check(CLI::ExistingFile)
          ->allow_extra_args(false);
  // Not checked as files here: an entry may be SUBSET=PATH; convert_nlq names a missing file.
  auto* nlq_files = sub->add_option(
      "--nlq", nlq->files,
      "official NLQ files nlq_train.json nlq_val.json nlq_test_unannotated.json -> query list; "
      "the subset comes from each file name, or give SUBSET=PATH");
  moments->excludes(nlq_files);
  auto* metadata = sub->add_option("--metadata", options->metadata, "MQ: ego4d.json video metadata")
                       ->check(CLI::ExistingFile);
  sub->add_option("--feature-fps", options->feature_fps, "feature rate in features per second")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  auto* label_map =
      sub->add_option("--label-map", options->label_map,
                      "MQ: label order file, one name per line (default: built-in Ego4D MQ v1)")
          ->check(CLI::ExistingFile);
  auto* keep_empty = sub->add_flag(
      "--keep-empty-windows", nlq->keep_empty_windows,
      "NLQ: keep train/val windows shorter than a frame (dropped by default, as the baseline's "
      "--remove_empty_queries_from train val)");
  metadata->excludes(nlq_files);
  label_map->excludes(nlq_files);
  keep_empty->needs(nlq_files);
  sub->add_option("--out", *out, "clip annotations (MQ) or query list (NLQ) JSON to write")
      ->required();
  sub->callback([options, nlq, out] {
    if (!nlq->files.empty()) {
      nlq->feature_fps = options->feature_fps;
      const data::NlqConvertReport report = data::convert_nlq_to_file(*nlq, *out);
      std::fputs(data::describe(report).c_str(), stdout);
      std::printf("wrote %s\n", out->c_str());
      return;
    }
    if (options->moments.empty()) {
      throw CLI::RequiredError("--moments (MQ) or --nlq (NLQ)");
    }
    const data::ConvertReport report = data::convert_to_file(*options, *out);
    std::fputs(data::describe(report).c_str(), stdout);
    std::printf("wrote %s\n", out->c_str());
  });
}

}  // namespace asl::cli
