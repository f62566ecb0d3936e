#include "cli/commands.h"

#include <CLI/CLI.hpp>

#include <iostream>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "bench/metrics_bench.h"
#include "cli/inspect_summaries.h"
#include "cli/job.h"
#include "bench/allreduce_bench.h"
#include "bench/bench.h"
#include "core/config.h"
#include "core/error.h"
#include "data/annotations.h"
#include "bench/load_bench.h"
#include "data/store.h"
#include "eval/metrics.h"
#include "infer/predict.h"
#include "core/fs.h"
#include "bench/model_bench.h"
#include "model/summary.h"

namespace asl::cli {
namespace {

// Options shared by the commands that read a config.
struct ConfigArgs {
  std::string config;
  std::vector<std::string> overrides;
};

void add_config_args(CLI::App* sub, ConfigArgs& a) {
  sub->add_option("CONFIG", a.config, "YAML config (see configs/)")->required()->check(
      CLI::ExistingFile);
  sub->add_option("--set", a.overrides, "override a key: --set key.path=value (repeatable)")
      ->allow_extra_args(false);
}

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

}  // namespace

void add_inspect(CLI::App& app) {
  struct Args {
    std::string path;
    std::vector<std::string> overrides;
    bool params = false, verify = false;
  };
  auto a = std::make_shared<Args>();
  auto* sub = app.add_subcommand(
      "inspect", "summarize a config, store, annotation file, checkpoint or prediction file");
  sub->add_option("PATH", a->path, "file to inspect")->required()->check(CLI::ExistingPath);
  sub->add_option("--set", a->overrides, "config override key.path=value (repeatable)")
      ->allow_extra_args(false);
  sub->add_flag("--params", a->params, "config: print the module tree and parameter counts");
  sub->add_flag("--verify", a->verify, "store: read every dataset and report NaN/Inf");
  sub->callback([a] {
    if (ends_with(a->path, ".yaml") || ends_with(a->path, ".yml")) {
      const config::Config cfg = config::load_config(a->path, a->overrides);
      if (a->params) {
        std::cout << model::summarize_parameters(cfg).text;
        return;
      }
      std::cout << config::to_yaml(cfg);
      return;
    }
    if (!a->overrides.empty()) throw Error(a->path, "--set applies to configs only");
    if (ends_with(a->path, ".h5") || ends_with(a->path, ".hdf5")) {
      std::cout << data::summarize_store(a->path);
      if (a->verify) {
        const data::VerifyReport report = data::verify_store(a->path);
        std::cout << "verified: " << report.clips << " clips, " << report.datasets
                  << " datasets, " << report.values << " values\n";
        for (const auto& p : report.problems) std::cout << "problem: " << p << "\n";
        if (!report.problems.empty()) {
          throw Error(a->path, std::to_string(report.problems.size()) +
                                   " problems found (listed above)",
                      "re-pack the affected clips");
        }
      }
      return;
    }
    if (ends_with(a->path, ".json")) {
      std::cout << (looks_like_predictions(a->path)
                        ? summarize_predictions(a->path)
                        : data::summarize(data::read_clip_annotations(a->path)));
      return;
    }
    // Anything else is read as a native checkpoint (.ckpt, or any name): a file that is not
    // one gets the checkpoint reader's error, naming it.
    std::cout << summarize_checkpoint(a->path);
  });
}

void add_eval(CLI::App& app) {
  struct Args {
    ConfigArgs cfg;
    std::string ckpt, split = "val", out, json;
  };
  auto a = std::make_shared<Args>();
  auto* sub = app.add_subcommand("eval", "infer a split and score it (metrics table)");
  add_config_args(sub, a->cfg);
  sub->add_option("CKPT", a->ckpt, "checkpoint")->required()->check(CLI::ExistingFile);
  sub->add_option("--split", a->split, "split to evaluate")->capture_default_str();
  sub->add_option("--out", a->out, "prediction file to write");
  sub->add_option("--json", a->json, "metrics JSON to write");
  sub->callback([a] {
    const config::Config cfg = config::load_config(a->cfg.config, a->cfg.overrides);
    const auto exporter = job_exporter(cfg, run_name(a->cfg.config));
    const auto comm = job_communicator(cfg);
    infer::PredictOptions o;
    o.checkpoint = a->ckpt;
    o.split = {a->split};
    o.comm = comm.get();
    const auto gt = std::make_shared<const data::ClipAnnotations>(
        data::read_clip_annotations(cfg.dataset.json_file));
    const auto predictions =
        std::make_shared<const eval::PredictionList>(infer::predict_split(cfg, gt, o));
    if (exporter) exporter->linger();
    if (comm->rank() != 0) return;  // rank 0 scores and writes
    if (!a->out.empty()) write_file_atomic(a->out, infer::predictions_json(*predictions));
    const eval::Metrics metrics = eval::score(*gt, {predictions, predictions}, a->split);
    std::cout << eval::format_table(metrics);
    if (!a->json.empty()) write_file_atomic(a->json, eval::metrics_json(metrics));
  });
}

void add_infer(CLI::App& app) {
  struct Args {
    ConfigArgs cfg;
    std::string ckpt, split = "test", out;
  };
  auto a = std::make_shared<Args>();
  auto* sub = app.add_subcommand("infer", "write the challenge submission for a split");
  add_config_args(sub, a->cfg);
  sub->add_option("CKPT", a->ckpt, "checkpoint")->required()->check(CLI::ExistingFile);
  sub->add_option("--split", a->split, "split to infer")->capture_default_str();
  sub->add_option("--out", a->out, "submission JSON to write")->required();
  sub->callback([a] {
    const config::Config cfg = config::load_config(a->cfg.config, a->cfg.overrides);
    const auto exporter = job_exporter(cfg, run_name(a->cfg.config));
    const auto comm = job_communicator(cfg);
    infer::PredictOptions o;
    o.checkpoint = a->ckpt;
    o.split = {a->split};
    o.comm = comm.get();
    const eval::PredictionList predictions = infer::predict_split(
        cfg,
        std::make_shared<const data::ClipAnnotations>(
            data::read_clip_annotations(cfg.dataset.json_file)),
        o);
    if (exporter) exporter->linger();
    if (comm->rank() != 0) return;  // rank 0 writes
    write_file_atomic(a->out, infer::predictions_json(predictions));
    std::cout << "wrote " << predictions.size() << " clips to " << a->out << "\n";
  });
}

void add_bench(CLI::App& app) {
  struct Args {
    std::string config, what, json, work_dir = "runs/bench-load";
    int repeat = 5;
    int64_t clips = 32;
    int threads = 2;
    std::vector<std::string> overrides;
  };
  auto a = std::make_shared<Args>();
  auto* sub = app.add_subcommand("bench", "benchmarks (medians against a baseline in the same run)");
  sub->add_option("CONFIG", a->config, "YAML config (train, infer)")->check(CLI::ExistingFile);
  sub->add_option("--what", a->what, "what to measure")->required()
      ->check(CLI::IsMember({"train", "infer", "nms", "score", "load", "allreduce", "metrics"}));
  sub->add_option("--json", a->json, "results JSON to write");
  sub->add_option("--repeat", a->repeat, "repetitions (the median is reported)")
      ->capture_default_str()->check(CLI::PositiveNumber);
  sub->add_option("--clips", a->clips, "load: clips to read")->capture_default_str();
  sub->add_option("--threads", a->threads, "train/infer: LibTorch threads")->capture_default_str();
  sub->add_option("--set", a->overrides, "config override key.path=value (repeatable)")
      ->allow_extra_args(false);
  sub->add_option("--work-dir", a->work_dir, "load: folder for the benchmark data")
      ->capture_default_str();
  sub->callback([a] {
    if (a->what == "train" || a->what == "infer") {
      if (a->config.empty()) throw Error("asl bench", "--what " + a->what + " needs a CONFIG");
      train::ModelBenchOptions o;
      o.config = a->config;
      o.overrides = a->overrides;
      o.what = a->what;
      o.repeat = a->repeat;
      o.threads = a->threads;
      o.json_out = a->json;
      train::run_model_bench(o);
      return;
    }
    if (a->what == "metrics") {
      // Against a training step of CONFIG (configs/demo.yaml for the budget) in this run.
      bench::MetricsBenchOptions m;
      m.repeat = a->repeat;
      m.json_out = a->json;
      if (!a->config.empty()) {
        train::ModelBenchOptions t;
        t.config = a->config;
        t.overrides = a->overrides;
        t.what = "train";
        t.repeat = a->repeat;
        t.threads = a->threads;
        m.step_s = nlohmann::json::parse(train::run_model_bench(t)).at("step_s").get<double>();
        m.step_label = a->config + ", median of " + std::to_string(a->repeat);
      }
      bench::run_metrics_bench(m);
      return;
    }
    if (a->what == "load") {
      data::LoadBenchOptions o;
      o.work_dir = a->work_dir;
      o.clips = a->clips;
      o.repeat = a->repeat;
      o.json_out = a->json;
      data::run_load_bench(o);
      return;
    }
    bench::Options o;
    o.repeat = a->repeat;
    o.json_out = a->json;
    if (a->what == "nms") {
      bench::run_nms_bench(o);
      return;
    }
    if (a->what == "score") {
      bench::run_score_bench(o);
      return;
    }
    if (a->what == "allreduce") {  // under mpirun: launch/mpirun.sh -n 2 bench --what allreduce
      bench::run_allreduce_bench(o, a->config);
      return;
    }
    throw Error("--what", "unknown benchmark " + a->what);
  });
}

}  // namespace asl::cli
