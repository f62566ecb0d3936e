// main() for GoogleTest binaries run under mpirun: the cluster Runtime around the tests,
// results printed by rank 0 only, and a failure on any rank fails the job (the exit code is
// the maximum over ranks). Include it in exactly one source file of the binary.
#pragma once

#include <gtest/gtest.h>
#include <mpi.h>

#include "cluster/runtime.h"

int main(int argc, char** argv) {
  asl::cluster::Runtime runtime(&argc, &argv);
  ::testing::InitGoogleTest(&argc, argv);
  if (!runtime.is_root()) {
    auto& listeners = ::testing::UnitTest::GetInstance()->listeners();
    delete listeners.Release(listeners.default_result_printer());
  }
  int failed = RUN_ALL_TESTS();
  int any_failed = failed;
  if (runtime.distributed()) MPI_Allreduce(&failed, &any_failed, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
  return any_failed;
}
