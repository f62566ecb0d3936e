#include "cli/inspect_summaries.h"

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>

#include "core/error.h"
#include "core/strings.h"
#include "eval/predictions.h"

namespace asl::cli {

std::string size_text(const std::string& path) {
  std::error_code ec;
  const auto bytes = std::filesystem::file_size(path, ec);
  if (ec) return "?";
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f MB", static_cast<double>(bytes) / 1e6);
  return with_commas(static_cast<int64_t>(bytes)) + " bytes (" + buf + ")";
}

std::string summarize_predictions(const std::string& path) {
  const eval::PredictionFile file = eval::read_predictions(path);
  const eval::PredictionList& list = *file.detection;
  int64_t count = 0, empty = 0;
  double lo = 0, hi = 0;
  std::map<std::string, int64_t> per_class;
  for (const auto& clip : list) {
    if (clip.predictions.empty()) ++empty;
    for (const auto& p : clip.predictions) {
      if (count == 0) lo = hi = p.score;
      lo = std::min(lo, p.score);
      hi = std::max(hi, p.score);
      ++count;
      ++per_class[p.label];
    }
  }
  std::ostringstream out;
  out << "predictions: " << list.size() << " clips (" << empty << " without predictions), "
      << count << " predictions";
  if (!list.empty()) out << " (" << count / static_cast<int64_t>(list.size()) << " per clip on average)";
  out << "\n";
  if (count > 0) out << "scores: " << lo << " to " << hi << "\n";
  std::vector<std::pair<int64_t, std::string>> classes;
  for (const auto& [label, n] : per_class) classes.emplace_back(n, label);
  std::sort(classes.rbegin(), classes.rend());
  out << "classes: " << classes.size();
  for (size_t i = 0; i < classes.size() && i < 5; ++i) {
    out << (i ? ", " : " (most predicted: ") << classes[i].second << " " << classes[i].first;
  }
  out << (classes.empty() ? "" : ")") << "\n";
  out << "retrieval lists: "
      << (file.retrieval == file.detection ? "the same as detection" : "separate") << "\n";
  return out.str();
}

bool looks_like_predictions(const std::string& path) {
  std::ifstream in(path);
  std::string head(4096, '\0');
  in.read(head.data(), static_cast<std::streamsize>(head.size()));
  head.resize(static_cast<size_t>(in.gcount()));
  const size_t brace = head.find('{');
  if (brace == std::string::npos) return false;
  const size_t quote = head.find('"', brace);
  if (quote == std::string::npos) return false;
  const std::string key = head.substr(quote + 1, head.find('"', quote + 1) - quote - 1);
  static const std::set<std::string> keys{"version", "challenge", "detect_results",
                                          "retrieve_results", "results"};
  return keys.count(key) > 0;
}

}  // namespace asl::cli
