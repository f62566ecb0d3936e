#include <gtest/gtest.h>
#include <spdlog/spdlog.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>

#include "core/error.h"
#include "core/logging.h"

namespace asl::logging {
namespace {

class LoggingEnv : public ::testing::Test {
 protected:
  void SetUp() override {
    for (const char* v : {"OMPI_COMM_WORLD_RANK", "OMPI_COMM_WORLD_SIZE", "PMIX_RANK", "PMI_RANK",
                          "PMI_SIZE", "SLURM_PROCID", "SLURM_NTASKS"}) {
      unsetenv(v);
    }
  }
};

TEST_F(LoggingEnv, WorldOfOneWithoutALauncher) {
  EXPECT_EQ(rank_from_environment(), (std::pair<int, int>{0, 1}));
}

TEST_F(LoggingEnv, RankFromOpenMpiAndSlurm) {
  setenv("SLURM_PROCID", "3", 1);
  setenv("SLURM_NTASKS", "8", 1);
  EXPECT_EQ(rank_from_environment(), (std::pair<int, int>{3, 8}));
  setenv("OMPI_COMM_WORLD_RANK", "1", 1);
  setenv("OMPI_COMM_WORLD_SIZE", "2", 1);
  EXPECT_EQ(rank_from_environment(), (std::pair<int, int>{1, 2}));  // OpenMPI first
  setenv("OMPI_COMM_WORLD_RANK", "junk", 1);
  EXPECT_EQ(rank_from_environment(), (std::pair<int, int>{3, 8}));
}

TEST_F(LoggingEnv, BadLevelIsAnError) {
  EXPECT_THROW(init({"loud", ""}), Error);
}

TEST_F(LoggingEnv, FileGetsRankPrefixAndLevelFilter) {
  const std::string path = ::testing::TempDir() + "asl_log_{rank}.txt";
  const std::string resolved = ::testing::TempDir() + "asl_log_0.txt";
  std::remove(resolved.c_str());
  init({"warn", path});
  spdlog::info("hidden message");
  spdlog::warn("visible message");
  set_rank(2, 4);
  spdlog::error("after set_rank");
  spdlog::default_logger()->flush();
  std::ifstream in(resolved);
  std::stringstream text;
  text << in.rdbuf();
  const std::string log = text.str();
  EXPECT_EQ(log.find("hidden message"), std::string::npos);
  EXPECT_NE(log.find("[rank 0/1] [warning] visible message"), std::string::npos) << log;
  EXPECT_NE(log.find("[rank 2/4] [error] after set_rank"), std::string::npos) << log;
  EXPECT_EQ(rank_prefix(), "[rank 2/4] ");
  set_rank(0, 1);
  EXPECT_EQ(rank_prefix(), "");
}

TEST_F(LoggingEnv, UnwritableFileIsAnError) {
  // The parent is a regular file, so no folder can be made for the log.
  const std::string file = ::testing::TempDir() + "asl_plain_file";
  std::ofstream(file) << "x";
  EXPECT_THROW(init({"info", file + "/x.log"}), Error);
}

}  // namespace
}  // namespace asl::logging
