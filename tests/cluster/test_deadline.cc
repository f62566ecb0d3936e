// cluster::Deadline, the time limit around calls that have none (ncclCommInitRank): it fires
// once when the scope outlives it, never when the scope ends in time, and a limit of 0 means
// none.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <thread>

#include "cluster/deadline.h"

namespace asl::cluster {
namespace {

using namespace std::chrono_literals;

TEST(Deadline, FiresOnceWhenTheScopeOutlivesIt) {
  std::atomic<int> fired{0};
  {
    Deadline limit(0.05, [&] { ++fired; });
    for (int i = 0; i < 200 && fired == 0; ++i) std::this_thread::sleep_for(10ms);
    std::this_thread::sleep_for(50ms);
  }
  EXPECT_EQ(fired, 1);
}

TEST(Deadline, NeverFiresWhenTheScopeEndsInTime) {
  std::atomic<int> fired{0};
  // Leaving the scope disarms it at once: a deadline that waited out its hour would hang
  // here until the test's own time limit.
  { Deadline limit(3600, [&] { ++fired; }); }
  std::this_thread::sleep_for(20ms);
  EXPECT_EQ(fired, 0);
}

TEST(Deadline, ZeroMeansNoLimit) {
  std::atomic<int> fired{0};
  {
    Deadline limit(0, [&] { ++fired; });
    std::this_thread::sleep_for(30ms);
  }
  EXPECT_EQ(fired, 0);
}

}  // namespace
}  // namespace asl::cluster
