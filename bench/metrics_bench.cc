#include "bench/metrics_bench.h"

#include <cstdio>
#include <nlohmann/json.hpp>

#include "bench/bench.h"
#include "core/fs.h"
#include "monitor/exporter.h"
#include "monitor/train_metrics.h"

namespace asl::bench {

std::string run_metrics_bench(const MetricsBenchOptions& o) {
  // A live endpoint, as in training, on the first free port of a high range.
  std::unique_ptr<monitor::Exporter> exporter;
  for (int port = 39400; !exporter && port < 39500; ++port) {
    monitor::ExporterOptions eo;
    eo.port = port;
    eo.run = "bench";
    try {
      exporter = std::make_unique<monitor::Exporter>(eo);
    } catch (const std::exception&) {
      // taken: the next one
    }
  }
  if (!exporter) throw std::runtime_error("no free loopback port in 39400-39499 for the bench");
  const auto metrics = monitor::TrainMetrics::create();
  monitor::StepSample s;
  s.lr = 1e-4;
  s.samples = 2;
  std::vector<double> per_step;
  for (int r = 0; r < o.repeat + 1; ++r) {
    const auto t0 = std::chrono::steady_clock::now();
    for (int i = 0; i < o.steps_per_round; ++i) {
      // Values change every call, as in training (no store of an unchanged value).
      s.steps_done = i;
      s.final_loss = s.cls_loss = 1.0 / (i + 1);
      s.step_s = 0.1 + 1e-6 * i;
      s.data_wait_s = 1e-4 * (i % 7);
      metrics->record_step(s);
    }
    if (r > 0) per_step.push_back(seconds_since(t0) / o.steps_per_round);  // round 0: warm-up
  }
  const double cost = median(per_step);
  std::printf("asl bench metrics: one step's updates (20 gauges and counters, 6 histograms), "
              "live exporter on port %d, median of %d x %d steps\n",
              exporter->port(), o.repeat, o.steps_per_round);
  std::printf("  metric updates per step  %10.3f us\n", cost * 1e6);
  nlohmann::json out = {{"update_per_step_s", cost}, {"repeat", o.repeat},
                        {"steps_per_round", o.steps_per_round}};
  if (o.step_s > 0) {
    std::printf("  training step            %10.3f s (%s)\n", o.step_s, o.step_label.c_str());
    std::printf("  share of a step          %10.5f %% (budget 0.1 %%)\n", 100 * cost / o.step_s);
    out["step_s"] = o.step_s;
    out["step_from"] = o.step_label;
    out["share"] = cost / o.step_s;
  }
  const std::string text = out.dump(2);
  if (!o.json_out.empty()) write_file_atomic(o.json_out, text + "\n");
  return text;
}

}  // namespace asl::bench
