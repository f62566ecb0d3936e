#include "run.h"

#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>

namespace asl::testing {
namespace {

std::string quote(const std::string& s) {
  std::string q = "'";
  for (char c : s) {
    if (c == '\'') {
      q += "'\\''";
    } else {
      q += c;
    }
  }
  return q + "'";
}

std::string slurp(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

}  // namespace

RunResult run_asl(const std::vector<std::string>& args) { return run_binary(ASL_BINARY, args); }

RunResult run_binary(const std::string& binary, const std::vector<std::string>& args) {
  static int counter = 0;
  const std::string base = ::testing::TempDir() + "asl_run_" + std::to_string(getpid()) + "_" +
                           std::to_string(++counter);
  std::string cmd = quote(binary);
  for (const auto& a : args) cmd += " " + quote(a);
  cmd += " >" + quote(base + ".out") + " 2>" + quote(base + ".err") + " </dev/null";
  const int status = std::system(cmd.c_str());
  RunResult r;
  r.code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  r.out = slurp(base + ".out");
  r.err = slurp(base + ".err");
  std::remove((base + ".out").c_str());
  std::remove((base + ".err").c_str());
  return r;
}

std::vector<std::string> tiny_demo_overrides(const std::string& data_dir) {
  return {"--set", "dataset.json_file=" + data_dir + "/clip_annotations.json",
          "--set", "store.path=" + data_dir + "/features.h5",
          "--set", "dataset.input_dim=[16, 8]",
          "--set", "dataset.num_classes=4",
          "--set", "dataset.max_seq_len=64",
          "--set", "model.embd_dim=[16, 16]",
          "--set", "model.fpn_dim=32",
          "--set", "model.head_dim=32",
          "--set", "model.xl={n_head: 4, d_head: 8, d_inner: 64}"};
}

int count_lines(const std::string& text) {
  int n = 0;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) n += !line.empty();
  return n;
}

}  // namespace asl::testing
