// asl eval and asl infer: the network over a split, then scores or a submission file.
#include <CLI/CLI.hpp>

#include <iostream>
#include <memory>
#include <string>

#include "cli/commands.h"
#include "cli/config_args.h"
#include "cli/job.h"
#include "core/config.h"
#include "core/fs.h"
#include "data/annotations.h"
#include "eval/metrics.h"
#include "eval/task.h"
#include "infer/predict.h"

namespace asl::cli {

namespace {

// What eval and infer share: the network over one split on every rank, gathered on rank 0.
struct SplitPredictions {
  eval::TaskAnnotations annotations;
  std::shared_ptr<const eval::PredictionList> predictions;  // complete on rank 0 only
  bool is_root = true;
};

SplitPredictions predict(const ConfigArgs& args, const std::string& checkpoint,
                         const std::string& split) {
  const config::Config cfg = config::load_config(args.config, args.overrides);
  const auto exporter = job_exporter(cfg, run_name(args.config));
  const auto comm = job_communicator(cfg);
  infer::PredictOptions o;
  o.checkpoint = checkpoint;
  o.split = {split};
  o.comm = comm.get();
  SplitPredictions out;
  out.annotations = eval::read_task_annotations(cfg);
  out.predictions = std::make_shared<const eval::PredictionList>(
      infer::predict_split(cfg, out.annotations.clips, o));
  out.is_root = comm->rank() == 0;
  if (exporter) exporter->linger();
  return out;
}

// The challenge's submission file: MQ's detections, or NLQ's top-5 windows per query.
std::string submission(const SplitPredictions& p) {
  if (p.annotations.queries) {
    return eval::nlq_submission_json(eval::nlq_submission(*p.predictions, *p.annotations.queries));
  }
  return infer::predictions_json(*p.predictions);
}

}  // namespace

void add_eval(CLI::App& app) {
  struct Args {
    ConfigArgs cfg;
    std::string ckpt, split = "val", out, json;
  };
  auto a = std::make_shared<Args>();
  auto* sub = app.add_subcommand("eval", kEvalHelp);
  add_config_args(sub, a->cfg);
  sub->add_option("CKPT", a->ckpt, "checkpoint")->required()->check(CLI::ExistingFile);
  sub->add_option("--split", a->split, "split to evaluate")->capture_default_str();
  sub->add_option("--out", a->out, "prediction file to write");
  sub->add_option("--json", a->json, "metrics JSON to write");
  sub->callback([a] {
    const SplitPredictions p = predict(a->cfg, a->ckpt, a->split);
    if (!p.is_root) return;  // rank 0 scores and writes
    if (!a->out.empty()) write_file_atomic(a->out, submission(p));
    const eval::TaskScore score = eval::score_split(p.annotations, p.predictions, a->split);
    std::cout << score.table;
    if (!a->json.empty()) write_file_atomic(a->json, score.metrics_json);
  });
}

void add_infer(CLI::App& app) {
  struct Args {
    ConfigArgs cfg;
    std::string ckpt, split = "test", out;
  };
  auto a = std::make_shared<Args>();
  auto* sub = app.add_subcommand("infer", kInferHelp);
  add_config_args(sub, a->cfg);
  sub->add_option("CKPT", a->ckpt, "checkpoint")->required()->check(CLI::ExistingFile);
  sub->add_option("--split", a->split, "split to infer")->capture_default_str();
  sub->add_option("--out", a->out, "submission JSON to write")->required();
  sub->callback([a] {
    const SplitPredictions p = predict(a->cfg, a->ckpt, a->split);
    if (!p.is_root) return;  // rank 0 writes
    write_file_atomic(a->out, submission(p));
    std::cout << "wrote " << p.predictions->size() << (p.annotations.queries ? " queries" : " clips")
              << " to " << a->out << "\n";
  });
}

}  // namespace asl::cli
