// Prediction files as `asl score` reads them (docs/evaluation.md): the challenge layout
// {"version", "challenge", "detect_results": {clip: [...]}, "retrieve_results": {...}} or the
// single-key layout {"results": {clip: [...]}} used for both tasks. Tensor-free.
#pragma once

#include <memory>
#include <string>
#include <vector>

namespace asl::eval {

struct Prediction {
  std::string label;
  double score = 0;
  double start = 0;  // seconds, clip-relative
  double end = 0;
};

struct ClipPredictions {
  std::string clip_id;
  std::vector<Prediction> predictions;  // file order: the retrieval metric depends on it
};

using PredictionList = std::vector<ClipPredictions>;  // clips in file order

struct PredictionFile {
  // The same list for both tasks in the single-key layout, and in the challenge layout when
  // both results objects are the same text (as this project writes them).
  std::shared_ptr<const PredictionList> detection;
  std::shared_ptr<const PredictionList> retrieval;
};

// Reads and checks a prediction file in one pass over its mapped bytes (no JSON tree).
// Errors name the file and the key path (clip id and entry index): malformed JSON (with line
// and column; NaN, Infinity and numbers beyond a double are refused), a missing results key,
// an entry without label, score or a two-number segment; malformed JSON anywhere comes before
// a shape problem, detection's before retrieval's. Numbers are the correctly rounded doubles
// (Python's float()); integers are read as integers, so -0 is +0.0. A key given twice keeps
// its last value at its first place, as Python's json does (a clip id: its last list).
PredictionFile read_predictions(const std::string& path);

// The same from text; `where` names the source in errors.
PredictionFile parse_predictions(const std::string& text, const std::string& where);

}  // namespace asl::eval
