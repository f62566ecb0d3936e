// The cluster side of a command: the communicator the job's ranks share (MPI under a
// launcher, a world of one otherwise). The Runtime itself lives in main().
#pragma once

#include <memory>

#include "cluster/communicator.h"
#include "core/config.h"

namespace asl::cli {

// For the device dist.device resolves to (cluster::resolve_device): NCCL for a GPU, MPI
// for the CPU (dist.backend may name one).
std::unique_ptr<cluster::Communicator> job_communicator(const config::Config& cfg);

}  // namespace asl::cli
