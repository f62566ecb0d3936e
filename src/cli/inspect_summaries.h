// What `asl inspect` prints for a prediction file (tensor-free).
#pragma once

#include <string>

namespace asl::cli {

// "1,234 bytes (0.0 MB)", or "?" when the size cannot be read.
std::string size_text(const std::string& path);

// A prediction or submission file: clips, predictions, score range, classes, and whether
// both tasks hold the same lists.
std::string summarize_predictions(const std::string& path);

// True when a JSON file's first key is a prediction file's ("version", "challenge",
// "detect_results", "retrieve_results" or "results"), read from its first bytes only.
bool looks_like_predictions(const std::string& path);

}  // namespace asl::cli
