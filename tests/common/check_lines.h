// PASS/FAIL lines for the stand-alone GPU checks (tests/cluster/gpu_check.cc,
// tests/train/gpu_train_check.cc), which build without gtest against a bare PyTorch
// install: check() runs a body and prints one line; expect() fails the body with a reason.
#pragma once

#include <cstdio>
#include <exception>
#include <functional>
#include <stdexcept>
#include <string>

namespace asl::testing {

// Failed checks so far.
inline int& check_failures() {
  static int failures = 0;
  return failures;
}

inline void check(const std::string& name, const std::function<void()>& body) {
  try {
    body();
    std::printf("PASS %s\n", name.c_str());
  } catch (const std::exception& e) {
    ++check_failures();
    std::printf("FAIL %s: %s\n", name.c_str(), e.what());
  }
  std::fflush(stdout);
}

inline void expect(bool ok, const std::string& what) {
  if (!ok) throw std::runtime_error(what);
}

}  // namespace asl::testing
