// Logging set-up: spdlog with a rank-aware prefix. Code logs with spdlog::info(...) etc.
#pragma once

#include <string>

namespace asl::logging {

struct Options {
  std::string level = "info";  // trace | debug | info | warn | error | critical | off
  std::string file;            // optional; "{rank}" in the name is replaced by the rank
};

// Installs the console (stderr) and optional file sinks. Throws asl::Error on a bad
// level or an unwritable file. The rank is taken from the launcher's environment
// (OpenMPI, PMI, Slurm) when present, else 0 of 1, until set_rank() is called.
void init(const Options& options);

// Updates the prefix once the cluster runtime knows the rank.
void set_rank(int rank, int world_size);

int rank();
int world_size();

// "[rank r/N] " when the job has several ranks, else "".
std::string rank_prefix();

// Rank and world size from launcher variables; {0, 1} without a launcher.
std::pair<int, int> rank_from_environment();

}  // namespace asl::logging
