#include "cli/job.h"

#include "cluster/make_communicator.h"
#include "cluster/runtime.h"

namespace asl::cli {

std::unique_ptr<cluster::Communicator> job_communicator(const config::Config& cfg) {
  const cluster::Runtime* runtime = cluster::Runtime::current();
  if (runtime == nullptr || !runtime->distributed()) {
    return std::make_unique<cluster::LocalCommunicator>();
  }
  return cluster::make_communicator(*runtime, cluster::resolve_device(cfg.dist.device, cfg.dist.backend),
                                    cfg.dist.backend, cfg.dist.timeout_s);
}

}  // namespace asl::cli
