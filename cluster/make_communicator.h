// Picks the communicator for this job (SPEC §7): NCCL for CUDA tensors, MPI for CPU
// tensors, the local one in a world of one (no launcher).
#pragma once

#include <memory>
#include <string>

#include "cluster/communicator.h"
#include "cluster/runtime.h"

namespace asl::cluster {

// device: "cpu" or "cuda[:i]" (Runtime::device()). backend: dist.backend, "auto" (by
// device), "mpi" or "nccl"; a backend that cannot serve the device is an asl::Error naming
// dist.backend. timeout_s: dist.timeout_s, the watchdog of a collective. Errors the
// watchdog finds end the job through runtime.abort().
std::unique_ptr<Communicator> make_communicator(const Runtime& runtime, const std::string& device,
                                                const std::string& backend = "auto",
                                                double timeout_s = 300.0);

// True when this build has the NCCL communicator.
bool have_nccl();

}  // namespace asl::cluster
