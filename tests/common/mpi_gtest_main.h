// main() for GoogleTest binaries run under mpirun: the cluster Runtime around the tests,
// results printed by rank 0, a failure on another rank printed by that rank with its rank,
// and a failure on any rank fails the job (the exit code is the maximum over ranks).
// Include it in exactly one source file of the binary.
#pragma once

#include <gtest/gtest.h>
#include <mpi.h>

#include <cstdio>

#include "cluster/runtime.h"

// On ranks other than 0: each failed assertion, prefixed with the rank.
class RankFailurePrinter : public ::testing::EmptyTestEventListener {
 public:
  explicit RankFailurePrinter(int rank) : rank_(rank) {}
  void OnTestPartResult(const ::testing::TestPartResult& result) override {
    if (!result.failed()) return;
    const ::testing::TestInfo* test = ::testing::UnitTest::GetInstance()->current_test_info();
    std::fprintf(stderr, "[rank %d] %s.%s: %s:%d: %s\n", rank_, test ? test->test_suite_name() : "?",
                 test ? test->name() : "?", result.file_name() ? result.file_name() : "?",
                 result.line_number(), result.message());
  }

 private:
  int rank_;
};

int main(int argc, char** argv) {
  asl::cluster::Runtime runtime(&argc, &argv);
  ::testing::InitGoogleTest(&argc, argv);
  if (!runtime.is_root()) {
    auto& listeners = ::testing::UnitTest::GetInstance()->listeners();
    delete listeners.Release(listeners.default_result_printer());
    listeners.Append(new RankFailurePrinter(runtime.rank()));
  }
  int failed = RUN_ALL_TESTS();
  int any_failed = failed;
  if (runtime.distributed()) MPI_Allreduce(&failed, &any_failed, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
  return any_failed;
}
