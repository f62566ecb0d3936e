#include "cli/job.h"

#include <spdlog/spdlog.h>

#include "asl/build_info.h"
#include "cluster/make_communicator.h"
#include "cluster/runtime.h"
#include "core/fs.h"
#include "core/torch_runtime.h"

namespace asl::cli {

std::unique_ptr<cluster::Communicator> job_communicator(const config::Config& cfg) {
  const cluster::Runtime* runtime = cluster::Runtime::current();
  if (runtime == nullptr || !runtime->distributed()) {
    return std::make_unique<cluster::LocalCommunicator>();
  }
  return cluster::make_communicator(*runtime, cluster::resolve_device(cfg.dist.device, cfg.dist.backend),
                                    cfg.dist.backend, cfg.dist.timeout_s);
}

std::string run_name(const std::string& path) {
  std::string name = last_path_component(path);
  const size_t dot = name.find_last_of('.');
  if (dot != std::string::npos && dot > 0) name = name.substr(0, dot);
  return name;
}

std::unique_ptr<monitor::Exporter> job_exporter(const config::Config& cfg,
                                                const std::string& default_run) {
  if (cfg.monitoring.port == 0) return nullptr;
  const cluster::Runtime* runtime = cluster::Runtime::current();
  monitor::ExporterOptions o;
  o.address = cfg.monitoring.address;
  o.port = cfg.monitoring.port;
  o.port_per_rank = cfg.monitoring.port_per_rank;
  o.job = cfg.monitoring.job;
  o.run = cfg.monitoring.run.empty() ? default_run : cfg.monitoring.run;
  o.linger_s = cfg.monitoring.linger_s;
  if (runtime != nullptr) {
    o.rank = runtime->rank();
    o.local_rank = runtime->local_rank();
    o.local_size = runtime->local_size();
  }
  auto exporter = std::make_unique<monitor::Exporter>(o);
  const std::string device = cluster::resolve_device(cfg.dist.device, cfg.dist.backend);
  const TorchRuntime torch = torch_runtime();
  exporter->set_build_info({{"version", ASL_VERSION},
                            {"libtorch", torch.version},
                            {"cuda", torch.cuda ? "yes" : "no"},
                            {"nccl", ASL_HAVE_NCCL ? "on" : "off"},
                            {"device", device},
                            {"world_size", std::to_string(runtime ? runtime->size() : 1)}});
  if (device.rfind("cuda", 0) == 0) {
    const int index = device.size() > 5 ? std::stoi(device.substr(5)) : 0;
    exporter->set_gpu_memory_reader([index](monitor::GpuMemory& m) {
      return cuda_memory(index, &m.used_bytes, &m.total_bytes);
    });
  }
  spdlog::info("metrics on http://{}:{}/metrics (job {}, run {})", o.address, exporter->port(),
               o.job, o.run);
  return exporter;
}

}  // namespace asl::cli
