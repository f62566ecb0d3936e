// Proves the MPI launch path works where the suite runs: every rank contributes its
// number, the all-reduce sums them, every rank checks the total.
#include <gtest/gtest.h>
#include <mpi.h>

namespace {

int world_rank() {
  int r = 0;
  MPI_Comm_rank(MPI_COMM_WORLD, &r);
  return r;
}

int world_size() {
  int n = 0;
  MPI_Comm_size(MPI_COMM_WORLD, &n);
  return n;
}

TEST(MpiSmoke, RunsUnderALauncherWithSeveralRanks) {
  EXPECT_GE(world_size(), 2) << "run this test with mpirun -np 2";
}

TEST(MpiSmoke, AllReduceSumsTheRanksNumbers) {
  const int n = world_size();
  const long mine = world_rank() + 1;  // 1..n
  long total = 0;
  ASSERT_EQ(MPI_Allreduce(&mine, &total, 1, MPI_LONG, MPI_SUM, MPI_COMM_WORLD), MPI_SUCCESS);
  EXPECT_EQ(total, static_cast<long>(n) * (n + 1) / 2);
}

TEST(MpiSmoke, AllReduceOfDoublesAveragesElementwise) {
  const int n = world_size();
  const int r = world_rank();
  double mine[3] = {1.0 * r, -2.0 * r, 0.5};
  double sum[3] = {0, 0, 0};
  ASSERT_EQ(MPI_Allreduce(mine, sum, 3, MPI_DOUBLE, MPI_SUM, MPI_COMM_WORLD), MPI_SUCCESS);
  const double rank_sum = n * (n - 1) / 2.0;
  EXPECT_DOUBLE_EQ(sum[0] / n, rank_sum / n);
  EXPECT_DOUBLE_EQ(sum[1] / n, -2.0 * rank_sum / n);
  EXPECT_DOUBLE_EQ(sum[2] / n, 0.5);
}

}  // namespace

// A failing assertion on any rank fails the job: the exit code is the max over ranks.
int main(int argc, char** argv) {
  MPI_Init(&argc, &argv);
  ::testing::InitGoogleTest(&argc, argv);
  if (world_rank() != 0) {
    // Only rank 0 prints the report; the others still run and return their result.
    auto& listeners = ::testing::UnitTest::GetInstance()->listeners();
    delete listeners.Release(listeners.default_result_printer());
  }
  const int failed = RUN_ALL_TESTS();
  int any_failed = 0;
  MPI_Allreduce(&failed, &any_failed, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
  MPI_Finalize();
  return any_failed;
}
