// Helpers shared by the test suites: substring expectations and the message of an
// expected asl::Error.
#pragma once

#include <gtest/gtest.h>

#include <filesystem>
#include <set>
#include <string>

#include "core/error.h"

// Expects `needle` inside `haystack`, printing the haystack when it is not.
#define EXPECT_HAS(haystack, needle) \
  EXPECT_NE(std::string(haystack).find(needle), std::string::npos) << "in: " << (haystack)
#define EXPECT_CONTAINS(text, part) EXPECT_HAS(text, part)

namespace asl::testing {

// The message of the asl::Error that `f` throws; fails the test when it throws none.
template <class F>
std::string error_of(F&& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  ADD_FAILURE() << "expected an asl::Error";
  return "(no error)";
}

// An empty folder TempDir()/NAME (removed first when it is there).
inline std::string fresh_temp_dir(const std::string& name) {
  const std::filesystem::path dir = std::filesystem::path(::testing::TempDir()) / name;
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  return dir.string();
}

// The names in a folder.
inline std::set<std::string> listing(const std::string& dir) {
  std::set<std::string> names;
  for (const auto& e : std::filesystem::directory_iterator(dir)) {
    names.insert(e.path().filename().string());
  }
  return names;
}

}  // namespace asl::testing
