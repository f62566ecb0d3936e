#include "eval/metrics.h"

#include <cstdio>
#include <nlohmann/json.hpp>

#include "core/error.h"

namespace asl::eval {
namespace {

// "0.1", "0.3": a threshold as the metrics JSON's keys write it ("mAP", "R1@0.3").
std::string threshold_key(double t) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%g", t);
  return buf;
}

}  // namespace

std::vector<const data::Clip*> select_split(const data::ClipAnnotations& annotations,
                                            const std::string& split) {
  std::vector<const data::Clip*> clips;
  for (const auto& c : annotations.clips) {
    if (split.find(c.subset) != std::string::npos) clips.push_back(&c);
  }
  return clips;
}

Metrics score(const data::ClipAnnotations& annotations, const PredictionFile& predictions,
              const std::string& split, int threads) {
  const auto clips = select_split(annotations, split);
  size_t entries = 0;
  for (const auto* c : clips) entries += c->annotations.size();
  if (entries == 0) {
    throw Error("--split " + split, "no ground-truth annotation in this split (" +
                                        std::to_string(clips.size()) + " clips)",
                "the test split has none; score val");
  }
  Metrics m;
  m.detection = evaluate_detection(clips, *predictions.detection, kDetectionTious, threads);
  m.retrieval = evaluate_retrieval(clips, *predictions.retrieval, threads);
  return m;
}

std::string metrics_json(const Metrics& m) {
  nlohmann::ordered_json j;
  j["mAP"] = nlohmann::ordered_json::object();
  for (size_t t = 0; t < m.detection.tious.size(); ++t) {
    j["mAP"][threshold_key(m.detection.tious[t])] = m.detection.mAP[t];
  }
  j["average_mAP"] = m.detection.average_mAP;
  j["recall"] = nlohmann::ordered_json::object();
  for (size_t t = 0; t < m.retrieval.tious.size(); ++t) {
    for (size_t r = 0; r < m.retrieval.ranks.size(); ++r) {
      j["recall"]["R" + std::to_string(m.retrieval.ranks[r]) + "@" +
                  threshold_key(m.retrieval.tious[t])] = m.retrieval.recall[t][r];
    }
  }
  // Each class's AP averaged over the tIoUs (the per-class view of average_mAP).
  j["AP_per_class"] = nlohmann::ordered_json::object();
  for (size_t c = 0; c < m.detection.classes.size(); ++c) {
    double sum = 0;
    for (size_t t = 0; t < m.detection.ap.size(); ++t) sum += m.detection.ap[t][c];
    j["AP_per_class"][m.detection.classes[c]] =
        m.detection.ap.empty() ? 0.0 : sum / static_cast<double>(m.detection.ap.size());
  }
  return j.dump(2) + "\n";
}

std::string format_table(const Metrics& m) {
  std::string out;
  char buf[128];
  const auto& d = m.detection;
  std::snprintf(buf, sizeof buf, "Detection: %zu classes, %lld ground-truth entries, %lld predictions",
                d.classes.size(), static_cast<long long>(d.ground_truth),
                static_cast<long long>(d.predictions));
  out += buf;
  if (d.ignored_predictions) {
    std::snprintf(buf, sizeof buf, " (%lld of labels absent from the ground truth ignored)",
                  static_cast<long long>(d.ignored_predictions));
    out += buf;
  }
  out += "\n  tIoU    ";
  for (double t : d.tious) {
    std::snprintf(buf, sizeof buf, "%8s", threshold_key(t).c_str());
    out += buf;
  }
  out += "   average\n  mAP (%)";
  for (double v : d.mAP) {
    std::snprintf(buf, sizeof buf, "%8.2f", 100 * v);
    out += buf;
  }
  std::snprintf(buf, sizeof buf, "%10.2f\n", 100 * d.average_mAP);
  out += buf;

  const auto& r = m.retrieval;
  out += "Retrieval: Recall@kx (%)";
  if (r.clips_without_predictions) {
    std::snprintf(buf, sizeof buf, " (%lld clips without predictions count as empty)",
                  static_cast<long long>(r.clips_without_predictions));
    out += buf;
  }
  out += "\n  tIoU    ";
  for (int k : r.ranks) {
    std::snprintf(buf, sizeof buf, "%8s", ("R" + std::to_string(k)).c_str());
    out += buf;
  }
  out += "\n";
  for (size_t t = 0; t < r.tious.size(); ++t) {
    std::snprintf(buf, sizeof buf, "  %-7s", threshold_key(r.tious[t]).c_str());
    out += buf;
    for (double v : r.recall[t]) {
      std::snprintf(buf, sizeof buf, "%8.2f", 100 * v);
      out += buf;
    }
    out += "\n";
  }
  return out;
}

}  // namespace asl::eval
