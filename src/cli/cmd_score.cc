// asl score
#include <CLI/CLI.hpp>

#include <iostream>
#include <memory>
#include <string>

#include "cli/commands.h"
#include "core/fs.h"
#include "data/annotations.h"
#include "eval/metrics.h"
#include "eval/predictions.h"

namespace asl::cli {

void add_score(CLI::App& app) {
  struct Args {
    std::string gt, pred, split = "val", json;
    int threads = 0;
  };
  auto a = std::make_shared<Args>();
  auto* sub = app.add_subcommand("score", "official Ego4D MQ metrics (mAP, Recall@kx)");
  sub->add_option("--gt", a->gt, "clip annotations JSON")->required()->check(CLI::ExistingFile);
  sub->add_option("--pred", a->pred, "prediction or submission JSON")->required()
      ->check(CLI::ExistingFile);
  sub->add_option("--split", a->split, "split of the ground truth")->capture_default_str();
  sub->add_option("--json", a->json, "metrics JSON to write (fractions)");
  sub->add_option("--threads", a->threads, "worker threads (0: all cores)")->capture_default_str()
      ->check(CLI::NonNegativeNumber);
  sub->callback([a] {
    const auto annotations = data::read_clip_annotations(a->gt);
    const auto predictions = eval::read_predictions(a->pred);
    const auto metrics = eval::score(annotations, predictions, a->split, a->threads);
    std::cout << eval::format_table(metrics) << std::flush;
    if (!a->json.empty()) write_file_atomic(a->json, eval::metrics_json(metrics));
  });
}

}  // namespace asl::cli
