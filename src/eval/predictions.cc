#include "eval/predictions.h"

#include <nlohmann/json.hpp>

#include "core/error.h"
#include "core/fs.h"

namespace asl::eval {
namespace {

// Keeps the file's key order: the official evaluator walks clips in file order, and that order
// decides how tied scores are ranked.
using Json = nlohmann::ordered_json;

std::string type_name(const Json& j) { return j.type_name(); }

double number(const Json& j, const std::string& where, const std::string& key) {
  if (!j.is_number()) {
    throw Error(where, key + " is " + type_name(j) + ", expected a number");
  }
  return j.get<double>();
}

std::shared_ptr<const PredictionList> parse_list(const Json& results, const std::string& file,
                                                 const std::string& key) {
  if (!results.is_object()) {
    throw Error(file, key + " is " + type_name(results) + ", expected an object keyed by clip id");
  }
  auto list = std::make_shared<PredictionList>();
  list->reserve(results.size());
  for (const auto& [clip_id, entries] : results.items()) {
    const std::string at = key + "." + clip_id;
    if (!entries.is_array()) {
      throw Error(file, at + " is " + type_name(entries) + ", expected a list of predictions");
    }
    ClipPredictions clip{clip_id, {}};
    clip.predictions.reserve(entries.size());
    for (size_t i = 0; i < entries.size(); ++i) {
      const Json& e = entries[i];
      const std::string where = file + ": " + at + "[" + std::to_string(i) + "]";
      if (!e.is_object()) throw Error(where, "is " + type_name(e) + ", expected an object");
      Prediction p;
      const auto label = e.find("label");
      if (label == e.end()) throw Error(where, "missing key 'label'");
      if (!label->is_string()) throw Error(where, "label is " + type_name(*label) + ", expected a string");
      p.label = label->get<std::string>();
      const auto score = e.find("score");
      if (score == e.end()) throw Error(where, "missing key 'score'");
      p.score = number(*score, where, "score");
      const auto segment = e.find("segment");
      if (segment == e.end()) throw Error(where, "missing key 'segment'");
      if (!segment->is_array() || segment->size() != 2) {
        throw Error(where, "segment must be [start, end] in seconds");
      }
      p.start = number((*segment)[0], where, "segment[0]");
      p.end = number((*segment)[1], where, "segment[1]");
      clip.predictions.push_back(std::move(p));
    }
    list->push_back(std::move(clip));
  }
  return list;
}

}  // namespace

PredictionFile parse_predictions(const std::string& text, const std::string& where) {
  Json root;
  try {
    root = Json::parse(text);
  } catch (const Json::parse_error& e) {
    throw Error(where, std::string("malformed JSON: ") + e.what(), "is this a prediction file?");
  }
  if (!root.is_object()) throw Error(where, "expected a JSON object at the top level");
  PredictionFile file;
  const auto results = root.find("results");
  const auto detect = root.find("detect_results");
  const auto retrieve = root.find("retrieve_results");
  if (detect != root.end() || retrieve != root.end()) {
    if (detect == root.end()) throw Error(where, "missing key 'detect_results'", "the challenge layout needs both tasks");
    if (retrieve == root.end()) throw Error(where, "missing key 'retrieve_results'", "the challenge layout needs both tasks");
    file.detection = parse_list(*detect, where, "detect_results");
    file.retrieval = parse_list(*retrieve, where, "retrieve_results");
  } else if (results != root.end()) {
    file.detection = file.retrieval = parse_list(*results, where, "results");
  } else {
    throw Error(where, "missing key 'detect_results' and 'retrieve_results' (or 'results')",
                "expected the layout of SPEC §5");
  }
  return file;
}

PredictionFile read_predictions(const std::string& path) {
  return parse_predictions(read_file(path), path);
}

}  // namespace asl::eval
