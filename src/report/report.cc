#include "report/report.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <utility>

#include "core/error.h"
#include "core/fs.h"
#include "report/svg_chart.h"

namespace asl::report {
namespace {

using Json = nlohmann::json;

double number(const Json& j, const char* key) {
  const auto it = j.find(key);
  return it != j.end() && it->is_number() ? it->get<double>() : kMissing;
}

// Non-empty lines of a JSON-lines file, parsed. A torn last line is dropped; any other bad
// line is an error.
std::vector<Json> read_json_lines(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw Error(path, "cannot be read");
  std::vector<std::pair<int, std::string>> lines;
  std::string line;
  for (int n = 1; std::getline(in, line); ++n) {
    if (line.find_first_not_of(" \t\r") != std::string::npos) lines.emplace_back(n, line);
  }
  std::vector<Json> out;
  for (size_t i = 0; i < lines.size(); ++i) {
    Json j = Json::parse(lines[i].second, nullptr, /*allow_exceptions=*/false);
    if (j.is_object()) {
      out.push_back(std::move(j));
    } else if (i + 1 < lines.size()) {
      throw Error(path + ":" + std::to_string(lines[i].first), "not a JSON object line",
                  "the file is damaged; remove that line");
    }  // else the last line, which the run may still be writing
  }
  return out;
}

Scores scores_of(const Json& j, const std::string& where) {
  Scores s;
  try {
    if (j.contains("mean_R1")) {  // NLQ (docs/nlq.md)
      s.nlq = true;
      s.average_map = j.at("mean_R1").get<double>();
      for (const char* k : {"R1@0.3", "R1@0.5", "R5@0.3", "R5@0.5", "mIoU"}) {
        s.map.emplace_back(k, j.at(k).get<double>());
        if (k[0] == 'R') s.recall[k] = j.at(k).get<double>();
      }
      return s;
    }
    for (const auto& [tiou, v] : j.at("mAP").items()) s.map.emplace_back(tiou, v.get<double>());
    s.average_map = j.at("average_mAP").get<double>();
    if (j.contains("recall")) {
      for (const auto& [k, v] : j.at("recall").items()) s.recall[k] = v.get<double>();
    }
    if (j.contains("AP_per_class")) {
      for (const auto& [c, v] : j.at("AP_per_class").items()) s.per_class.emplace_back(c, v.get<double>());
    }
  } catch (const Json::exception& e) {
    throw Error(where, std::string("not a metrics object: ") + e.what(),
                "pass the file `asl eval --json` writes");
  }
  std::sort(s.per_class.begin(), s.per_class.end(),
            [](const auto& a, const auto& b) { return a.second > b.second; });
  return s;
}

const char* primary_name(const Scores& s) { return s.nlq ? "mean R@1" : "average mAP"; }

std::string pct(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.2f%%", 100 * v);
  return buf;
}

std::string fmt(double v) {
  if (!std::isfinite(v)) return "&ndash;";
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.4g", v);
  return buf;
}

const char* kStyle = R"(body{font:14px/1.4 system-ui,sans-serif;margin:24px;color:#222;max-width:1200px}
h1{font-size:22px;margin:0 0 4px}h2{font-size:17px;margin:28px 0 8px;border-bottom:1px solid #ddd}
.muted{color:#777;fill:#777}.charts{display:flex;flex-wrap:wrap;gap:12px}
table{border-collapse:collapse}td,th{padding:3px 10px;border-bottom:1px solid #eee;text-align:right}
th:first-child,td:first-child{text-align:left}
.chart{background:#fff;border:1px solid #e4e4e4}.chart-title{font-size:13px;font-weight:600}
.tick{font-size:10px;fill:#555}.legend{font-size:11px}.axis-label{font-size:11px;fill:#444}
.grid{stroke:#eee}.frame{fill:none;stroke:#bbb}.bar{fill:#1f77b4})";

}  // namespace

std::vector<double> moving_median(const std::vector<double>& values, size_t window) {
  std::vector<double> out;
  out.reserve(values.size());
  std::vector<double> w;
  for (size_t i = 0; i < values.size(); ++i) {
    w.clear();
    for (size_t k = i + 1 > window ? i + 1 - window : 0; k <= i; ++k) {
      if (std::isfinite(values[k])) w.push_back(values[k]);
    }
    if (w.empty()) {
      out.push_back(kMissing);
      continue;
    }
    std::sort(w.begin(), w.end());
    const size_t n = w.size();
    out.push_back(n % 2 ? w[n / 2] : (w[n / 2 - 1] + w[n / 2]) / 2);
  }
  return out;
}

RunData read_run(const std::string& run_dir, const std::string& metrics_path) {
  RunData run;
  run.name = last_path_component(run_dir);
  const std::string steps = join_path(run_dir, "steps.jsonl");
  if (!path_exists(steps)) {
    throw Error(steps, "not found: no training run in " + run_dir,
                "pass the --output folder of asl train");
  }
  for (const Json& j : read_json_lines(steps)) {
    StepRow r;
    r.step = number(j, "step");
    r.epoch = number(j, "epoch");
    r.lr = number(j, "lr");
    r.cls = number(j, "cls_loss");
    r.reg = number(j, "reg_loss");
    r.al = number(j, "al_loss");
    r.final_loss = number(j, "final_loss");
    r.samples_per_s = number(j, "samples_per_s");
    r.data_wait_s = number(j, "data_wait_s");
    run.steps.push_back(r);
  }
  const std::string validation = join_path(run_dir, "validation.jsonl");
  if (path_exists(validation)) {
    for (const Json& j : read_json_lines(validation)) {
      ValidationRow v;
      v.epoch = number(j, "epoch");
      v.scores = scores_of(j, validation);
      v.best = j.value("best", false);
      run.validations.push_back(v);
    }
  }
  std::string metrics = metrics_path;
  if (metrics.empty() && path_exists(join_path(run_dir, "metrics.json"))) {
    metrics = join_path(run_dir, "metrics.json");
  }
  if (!metrics.empty()) {
    Json j;
    try {
      j = Json::parse(read_file(metrics));
    } catch (const Json::exception& e) {
      throw Error(metrics, std::string("not JSON: ") + e.what(), "pass the file `asl eval --json` writes");
    }
    run.metrics = scores_of(j, metrics);
    run.metrics_source = metrics;
  } else if (!run.validations.empty()) {
    run.metrics = run.validations.back().scores;
    run.metrics_source = "validation.jsonl, epoch " + fmt(run.validations.back().epoch);
  }
  return run;
}

std::string render(const RunData& run) {
  std::ostringstream h;
  h << "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>Ego4D-ASL run "
    << escape(run.name) << "</title>\n<style>" << kStyle << "</style></head><body>\n";
  h << "<h1>Ego4D-ASL run " << escape(run.name) << "</h1>\n";

  // Summary.
  const StepRow* last = run.steps.empty() ? nullptr : &run.steps.back();
  const ValidationRow* best = nullptr;
  for (const auto& v : run.validations) {
    if (!best || v.scores.average_map > best->scores.average_map) best = &v;
  }
  h << "<h2>Summary</h2>\n<table class=\"summary\">\n";
  h << "<tr><td>steps</td><td id=\"steps\">" << run.steps.size() << "</td></tr>\n";
  h << "<tr><td>epochs</td><td id=\"epochs\">" << (last ? fmt(last->epoch + 1) : "0") << "</td></tr>\n";
  if (last) {
    h << "<tr><td>last losses (cls / reg / al / final)</td><td>" << fmt(last->cls) << " / "
      << fmt(last->reg) << " / " << fmt(last->al) << " / " << fmt(last->final_loss) << "</td></tr>\n";
    h << "<tr><td>last learning rate</td><td>" << fmt(last->lr) << "</td></tr>\n";
  }
  if (best) {
    h << "<tr><td>best " << primary_name(best->scores) << "</td><td id=\"best\">"
      << pct(best->scores.average_map)
      << " (epoch " << fmt(best->epoch) << ")</td></tr>\n";
  }
  h << "</table>\n";

  // Training curves.
  Series cls{"cls", {}, {}}, reg{"reg", {}, {}}, al{"al", {}, {}}, fin{"final", {}, {}};
  Series lr{"lr", {}, {}}, rate{"samples/s", {}, {}}, wait{"data wait", {}, {}};
  std::vector<double> rates;
  for (const StepRow& r : run.steps) {
    for (Series* s : {&cls, &reg, &al, &fin, &lr, &rate, &wait}) s->x.push_back(r.step);
    cls.y.push_back(r.cls);
    reg.y.push_back(r.reg);
    al.y.push_back(r.al);
    fin.y.push_back(r.final_loss);
    lr.y.push_back(r.lr);
    rate.y.push_back(r.samples_per_s);
    wait.y.push_back(r.data_wait_s);
  }
  Series smooth{"median of 50", rate.x, moving_median(rate.y, 50), /*emphasized=*/true};
  ChartOptions by_step;
  by_step.x_label = "step";
  h << "<h2>Training</h2>\n<div class=\"charts\">\n";
  by_step.y_label = "loss";
  h << line_chart("Losses", {cls, reg, al, fin}, by_step);
  by_step.y_label = "learning rate";
  h << line_chart("Learning rate", {lr}, by_step);
  by_step.y_label = "samples/s";
  h << line_chart("Throughput", {rate, smooth}, by_step);
  by_step.y_label = "seconds";
  h << line_chart("Data wait per step", {wait}, by_step);
  h << "</div>\n";

  // Validation.
  if (!run.validations.empty()) {
    std::vector<Series> curves;
    for (const auto& [tiou, value] : run.validations.front().scores.map) {
      Series s{run.validations.front().scores.nlq ? tiou : "mAP@" + tiou, {}, {}};
      for (const auto& v : run.validations) {
        for (const auto& [t, m] : v.scores.map) {
          if (t == tiou) {
            s.x.push_back(v.epoch);
            s.y.push_back(m);
          }
        }
      }
      curves.push_back(s);
    }
    // Emphasized: the average often lies on the mAP@0.3 line and would hide it.
    const bool nlq = run.validations.front().scores.nlq;
    Series avg{nlq ? "mean R@1" : "average", {}, {}, /*emphasized=*/true};
    for (const auto& v : run.validations) {
      avg.x.push_back(v.epoch);
      avg.y.push_back(v.scores.average_map);
    }
    curves.push_back(avg);
    ChartOptions by_epoch;
    by_epoch.x_label = "epoch";
    by_epoch.y_label = nlq ? "Rank@K, mIoU" : "mAP";
    by_epoch.percent = true;
    by_epoch.width = 720;
    h << "<h2>Validation</h2>\n<div class=\"charts\">\n"
      << line_chart(nlq ? "Validation Rank@K and mIoU" : "Validation mAP per tIoU", curves,
                    by_epoch)
      << "</div>\n";
  }

  // Final metrics: per-class AP and recall.
  if (run.metrics) {
    const Scores& m = *run.metrics;
    h << "<h2>Metrics</h2>\n<p class=\"muted\">from " << escape(run.metrics_source)
      << ": " << primary_name(m) << " " << pct(m.average_map) << "</p>\n";
    if (!m.per_class.empty()) {
      std::vector<std::string> labels;
      std::vector<double> values;
      for (const auto& [c, v] : m.per_class) {
        labels.push_back(c);
        values.push_back(v);
      }
      h << bar_chart("AP per class (mean over tIoU)", labels, values, 720);
    }
    if (!m.recall.empty()) {
      h << "<table class=\"recall\">\n<tr><th>Recall</th>";
      const std::vector<std::string> tious =
          m.nlq ? std::vector<std::string>{"0.3", "0.5"} : std::vector<std::string>{"0.3", "0.5", "0.7"};
      for (const auto& t : tious) h << "<th>tIoU " << t << "</th>";
      h << "</tr>\n";
      for (int k = 1; k <= 5; ++k) {
        if (m.nlq && k != 1 && k != 5) continue;
        h << "<tr><td>R" << k << "</td>";
        for (const auto& t : tious) {
          const auto it = m.recall.find("R" + std::to_string(k) + "@" + t);
          h << "<td>" << (it == m.recall.end() ? "&ndash;" : pct(it->second)) << "</td>";
        }
        h << "</tr>\n";
      }
      h << "</table>\n";
    }
  }
  h << "</body></html>\n";
  return h.str();
}

}  // namespace asl::report
