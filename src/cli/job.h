// The cluster side of a command: the communicator the job's ranks share (MPI under a
// launcher, a world of one otherwise) and the rank's metrics endpoint. The Runtime itself
// lives in main().
#pragma once

#include <memory>
#include <string>

#include "cluster/communicator.h"
#include "core/config.h"
#include "monitor/exporter.h"

namespace asl::cli {

// For the device dist.device resolves to (cluster::resolve_device): NCCL for a GPU, MPI
// for the CPU (dist.backend may name one).
std::unique_ptr<cluster::Communicator> job_communicator(const config::Config& cfg);

// The rank's Prometheus endpoint when monitoring.port is set (null otherwise), started
// before any work so that a taken port fails first. `default_run`: the run label when
// monitoring.run is empty. Sets asl_build_info and, on a GPU, the device-memory reader.
std::unique_ptr<monitor::Exporter> job_exporter(const config::Config& cfg,
                                                const std::string& default_run);

// The last component of a path without its extension ("runs/demo/train/" -> "train",
// "configs/demo.yaml" -> "demo").
std::string run_name(const std::string& path);

}  // namespace asl::cli
