// Picks the communicator for this job (docs/cluster.md): NCCL for CUDA tensors, MPI for CPU
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

// All ranks compare "cuda" or "cpu" for `device` (an allgather on `comm`); a mixture throws
// asl::Error on every rank, naming the first rank and host that differ from rank 0.
void check_ranks_agree_on_device(Communicator& comm, const Runtime& runtime,
                                 const std::string& device);

// The device this process computes on for dist.device = `setting`: "cpu"; "auto": the
// current Runtime's device() (cuda:0 / cpu without a Runtime), except in a job of several
// ranks that could not all-reduce CUDA tensors (dist.backend mpi, or a build without NCCL),
// which stays on the CPU; "cuda": the GPU (with dist.backend mpi too: its messages go
// through host copies), an error naming the fix when none is usable.
std::string resolve_device(const std::string& setting, const std::string& backend = "auto");

}  // namespace asl::cluster
