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
// The same for another executable (a copy of asl, asl-torch).
RunResult run_binary(const std::string& binary, const std::vector<std::string>& args);

// --set overrides that shrink configs/demo.yaml to a network that trains in seconds on a
// `asl synth --classes 4 --features egovlp:16,internvideo:8 --write h5` dataset in `data_dir`.
std::vector<std::string> tiny_demo_overrides(const std::string& data_dir);

// Number of non-empty lines.
int count_lines(const std::string& text);

}  // namespace asl::testing
