// Prediction files as `asl score` reads them (SPEC §5): the challenge layout
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
  // The same list for both tasks in the single-key layout.
  std::shared_ptr<const PredictionList> detection;
  std::shared_ptr<const PredictionList> retrieval;
};

// Reads and checks a prediction file. Errors name the file and the key path (clip id and
// entry index): malformed JSON, a missing results key, an entry without label, score or a
// two-number segment. A clip id given twice keeps its last list at its first place, as
// Python's json does.
PredictionFile read_predictions(const std::string& path);

// The same from text; `where` names the source in errors.
PredictionFile parse_predictions(const std::string& text, const std::string& where);

}  // namespace asl::eval
