// What `asl inspect` prints for a checkpoint and for a prediction file.
#pragma once

#include <string>

namespace asl::cli {

// A native checkpoint (`asl train` or `asl import`): kind, source, epoch and step, parameter
// count, EMA weights, optimizer state, the stored config's model-defining keys, file size.
// Throws asl::Error naming the path for a file that is not one.
std::string summarize_checkpoint(const std::string& path);

// A prediction or submission file: clips, predictions, score range, classes, and whether
// both tasks hold the same lists.
std::string summarize_predictions(const std::string& path);

// True when a JSON file's first key is a prediction file's ("version", "challenge",
// "detect_results", "retrieve_results" or "results"), read from its first bytes only.
bool looks_like_predictions(const std::string& path);

}  // namespace asl::cli
