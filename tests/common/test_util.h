// Helpers shared by the test suites: substring expectations and the message of an
// expected asl::Error.
#pragma once

#include <gtest/gtest.h>

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

}  // namespace asl::testing
