// `asl bench CONFIG --what allreduce`, under mpirun: the bus bandwidth of the bucketed
// gradient all-reduce of CONFIG's model parameter list, against one MPI_Allreduce of a
// buffer of the same total size and against one all-reduce per parameter tensor.
#pragma once

#include <string>

#include "bench/bench.h"

namespace asl::bench {

// Needs a job of at least 2 ranks (asl::Error otherwise). Rank 0 prints the table and
// writes options.json_out; returns the results as JSON text on every rank.
std::string run_allreduce_bench(const Options& options, const std::string& config);

}  // namespace asl::bench
