// Runs the built `asl` binary and captures its exit code, stdout and stderr.
#pragma once

#include <string>
#include <vector>

namespace asl::testing {

struct RunResult {
  int code = -1;
  std::string out;
  std::string err;
};

RunResult run_asl(const std::vector<std::string>& args);

// Number of non-empty lines.
int count_lines(const std::string& text);

}  // namespace asl::testing
