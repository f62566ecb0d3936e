// asl bench: the benchmarks of bench/ (medians against a baseline in the same run).
#include <CLI/CLI.hpp>

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "bench/allreduce_bench.h"
#include "bench/bench.h"
#include "bench/kernels_bench.h"
#include "bench/load_bench.h"
#include "bench/metrics_bench.h"
#include "bench/model_bench.h"
#include "cli/commands.h"
#include "core/error.h"

namespace asl::cli {

void add_bench(CLI::App& app) {
  struct Args {
    std::string config, what, json, profile, work_dir = "runs/bench-load";
    int repeat = 5;
    int64_t clips = 32;
    int threads = 2;
    std::vector<std::string> overrides;
  };
  auto a = std::make_shared<Args>();
  auto* sub = app.add_subcommand("bench", kBenchHelp);
  sub->add_option("CONFIG", a->config, "YAML config (train, infer)")->check(CLI::ExistingFile);
  sub->add_option("--what", a->what, "what to measure")->required()
      ->check(CLI::IsMember({"train", "infer", "nms", "score", "load", "allreduce", "metrics", "kernels"}));
  sub->add_option("--json", a->json, "results JSON to write");
  sub->add_option("--profile", a->profile,
                  "train/infer: one more iteration under LibTorch's profiler, its trace written here");
  sub->add_option("--repeat", a->repeat, "repetitions (the median is reported)")
      ->capture_default_str()->check(CLI::PositiveNumber);
  sub->add_option("--clips", a->clips, "load: clips to read")->capture_default_str();
  sub->add_option("--threads", a->threads, "train/infer: LibTorch threads")->capture_default_str();
  sub->add_option("--set", a->overrides, "config override key.path=value (repeatable)")
      ->allow_extra_args(false);
  sub->add_option("--work-dir", a->work_dir, "load: folder for the benchmark data")
      ->capture_default_str();
  sub->callback([a] {
    const auto model_bench = [&a](const std::string& what) {
      train::ModelBenchOptions o;
      o.config = a->config;
      o.overrides = a->overrides;
      o.what = what;
      o.repeat = a->repeat;
      o.threads = a->threads;
      return o;
    };
    if (a->what == "train" || a->what == "infer") {
      if (a->config.empty()) throw Error("asl bench", "--what " + a->what + " needs a CONFIG");
      train::ModelBenchOptions o = model_bench(a->what);
      o.json_out = a->json;
      o.profile_out = a->profile;
      train::run_model_bench(o);
      return;
    }
    if (a->what == "metrics") {
      // Against a training step of CONFIG (configs/demo.yaml for the budget) in this run.
      bench::MetricsBenchOptions m;
      m.repeat = a->repeat;
      m.json_out = a->json;
      if (!a->config.empty()) {
        const std::string step = train::run_model_bench(model_bench("train"));
        m.step_s = nlohmann::json::parse(step).at("step_s").get<double>();
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
    if (a->what == "kernels") {
      bench::run_kernels_bench(o, a->config, a->overrides);
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
