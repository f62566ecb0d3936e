// asl score
#include <CLI/CLI.hpp>

#include <iostream>
#include <memory>
#include <string>

#include "cli/commands.h"
#include "core/error.h"
#include "core/fs.h"
#include "data/annotations.h"
#include "eval/metrics.h"
#include "eval/nlq.h"
#include "eval/predictions.h"

namespace asl::cli {

void add_score(CLI::App& app) {
  struct Args {
    std::string task = "mq", gt, pred, split = "val", json;
    int threads = 0;
  };
  auto a = std::make_shared<Args>();
  auto* sub = app.add_subcommand(
      "score", "official Ego4D metrics: MQ (mAP, Recall@kx) or NLQ (Rank@K, mIoU)");
  sub->add_option("--task", a->task, "mq: Moment Queries; nlq: Natural Language Queries")
      ->capture_default_str()->check(CLI::IsMember({"mq", "nlq"}));
  sub->add_option("--gt", a->gt,
                  "ground truth: clip annotations JSON (mq), the official NLQ file such as "
                  "nlq_val.json (nlq)")
      ->required()->check(CLI::ExistingFile);
  sub->add_option("--pred", a->pred, "prediction or submission JSON (mq), NLQ submission (nlq)")
      ->required()->check(CLI::ExistingFile);
  auto* split = sub->add_option("--split", a->split,
                                "split of the ground truth (mq only: refused with --task nlq, "
                                "whose --gt file is one split)")
                    ->capture_default_str();
  sub->add_option("--json", a->json, "metrics JSON to write (fractions)");
  sub->add_option("--threads", a->threads, "worker threads (0: all cores; mq only, nlq ignores it)")
      ->capture_default_str()->check(CLI::NonNegativeNumber);
  sub->callback([a, split] {
    if (a->task == "nlq") {
      if (split->count() > 0) {
        throw Error("--split", "does not apply to --task nlq",
                    "the --gt file is one split (nlq_val.json): leave --split out");
      }
      const auto gt = eval::read_nlq_ground_truth(a->gt);
      const auto submission = eval::read_nlq_submission(a->pred);
      const auto metrics = eval::score_nlq(gt, submission);
      std::cout << eval::format_nlq_table(metrics) << std::flush;
      if (!a->json.empty()) write_file_atomic(a->json, eval::nlq_metrics_json(metrics));
      return;
    }
    const auto annotations = data::read_clip_annotations(a->gt);
    const auto predictions = eval::read_predictions(a->pred);
    const auto metrics = eval::score(annotations, predictions, a->split, a->threads);
    std::cout << eval::format_table(metrics) << std::flush;
    if (!a->json.empty()) write_file_atomic(a->json, eval::metrics_json(metrics));
  });
}

}  // namespace asl::cli
