#include "monitor/exporter.h"

#include <prometheus/collectable.h>
#include <prometheus/gauge.h>
#include <prometheus/metric_family.h>
#include <prometheus/registry.h>
#include <prometheus/text_serializer.h>

#include <chrono>
#include <mutex>
#include <thread>

#include "core/error.h"
#include "monitor/http_server.h"
#include "monitor/process_stats.h"

namespace asl::monitor {
namespace {

Exporter* g_current = nullptr;

// Sampled when Prometheus scrapes, not on the training path: memory moves slowly and a
// read of /proc per step would cost more than every other metric together.
class SampledGauges : public prometheus::Collectable {
 public:
  explicit SampledGauges(std::map<std::string, std::string> labels) : labels_(std::move(labels)) {}

  void set_gpu_reader(std::function<bool(GpuMemory&)> reader) {
    std::lock_guard<std::mutex> lock(mutex_);
    gpu_reader_ = std::move(reader);
  }

  std::vector<prometheus::MetricFamily> Collect() const override {
    std::vector<prometheus::MetricFamily> out;
    add(out, "asl_process_resident_memory_bytes", "Resident memory of the rank's process.",
        static_cast<double>(resident_memory_bytes()));
    add(out, "asl_process_memory_limit_bytes",
        "Memory limit of the process: its cgroup's limit, else the physical memory.",
        static_cast<double>(memory_limit_bytes()));
    std::function<bool(GpuMemory&)> reader;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      reader = gpu_reader_;
    }
    GpuMemory gpu;
    if (reader && reader(gpu)) {
      add(out, "asl_gpu_memory_used_bytes", "Memory in use on the rank's GPU (all processes).",
          static_cast<double>(gpu.used_bytes));
      add(out, "asl_gpu_memory_total_bytes", "Memory of the rank's GPU.",
          static_cast<double>(gpu.total_bytes));
    }
    return out;
  }

 private:
  void add(std::vector<prometheus::MetricFamily>& out, const char* name, const char* help,
           double value) const {
    prometheus::MetricFamily family;
    family.name = name;
    family.help = help;
    family.type = prometheus::MetricType::Gauge;
    prometheus::ClientMetric m;
    for (const auto& [k, v] : labels_) m.label.push_back({k, v});
    m.gauge.value = value;
    family.metric.push_back(std::move(m));
    out.push_back(std::move(family));
  }

  std::map<std::string, std::string> labels_;
  mutable std::mutex mutex_;
  std::function<bool(GpuMemory&)> gpu_reader_;
};

}  // namespace

struct Exporter::Server {
  std::shared_ptr<SampledGauges> sampled;
  std::unique_ptr<HttpServer> http;  // last: stops before what it reads goes away
};

int exporter_port(const ExporterOptions& o) {
  if (o.port <= 0 || o.port > 65535) {
    throw Error("monitoring.port", "port " + std::to_string(o.port) + " is out of range",
                "use 1 to 65535, or 0 to turn monitoring off");
  }
  if (!o.port_per_rank && o.local_size > 1) {
    throw Error("monitoring.port_per_rank",
                "false, but " + std::to_string(o.local_size) +
                    " ranks share this node and cannot all serve on port " + std::to_string(o.port),
                "set monitoring.port_per_rank: true (rank r serves on port + local rank)");
  }
  const int64_t port = o.port + (o.port_per_rank ? o.local_rank : 0);
  if (port > 65535) {
    throw Error("monitoring.port", "port " + std::to_string(o.port) + " + local rank " +
                                       std::to_string(o.local_rank) + " is beyond 65535",
                "choose a lower monitoring.port");
  }
  return static_cast<int>(port);
}

Exporter::Exporter(const ExporterOptions& options)
    : options_(options), port_(exporter_port(options)), server_(std::make_unique<Server>()) {
  labels_ = {{"job", options_.job}, {"run", options_.run}, {"rank", std::to_string(options_.rank)}};
  registry_ = std::make_shared<prometheus::Registry>();
  // An IPv6 address is written in brackets before the port.
  const bool v6 = options_.address.find(':') != std::string::npos;
  const std::string bind = (v6 ? "[" + options_.address + "]" : options_.address) + ":" +
                           std::to_string(port_);
  server_->sampled = std::make_shared<SampledGauges>(labels_);
  auto registry = registry_;
  auto sampled = server_->sampled;
  const auto body = [registry, sampled] {
    std::vector<prometheus::MetricFamily> families = registry->Collect();
    for (auto& f : sampled->Collect()) families.push_back(std::move(f));
    return prometheus::TextSerializer().Serialize(families);
  };
  try {
    server_->http = std::make_unique<HttpServer>(options_.address, port_, body);
  } catch (const std::exception& e) {
    throw Error("monitoring.port",
                "cannot serve metrics on " + bind + " (rank " + std::to_string(options_.rank) +
                    "): " + e.what(),
                "choose a free monitoring.port (rank r uses port + local rank) and an address "
                "of this host for monitoring.address, or set monitoring.port: 0");
  }
  g_current = this;
}

Exporter::~Exporter() {
  if (g_current == this) g_current = nullptr;
}

Exporter* Exporter::current() { return g_current; }

void Exporter::set_build_info(const std::map<std::string, std::string>& labels) {
  prometheus::Labels all(labels_.begin(), labels_.end());
  for (const auto& [k, v] : labels) all[k] = v;
  prometheus::BuildGauge()
      .Name("asl_build_info")
      .Help("The build and the job's set-up; always 1.")
      .Register(*registry_)
      .Add(all)
      .Set(1);
}

void Exporter::set_gpu_memory_reader(std::function<bool(GpuMemory&)> reader) {
  server_->sampled->set_gpu_reader(std::move(reader));
}

void Exporter::linger() const {
  if (options_.linger_s > 0) {
    std::this_thread::sleep_for(std::chrono::duration<double>(options_.linger_s));
  }
}

}  // namespace asl::monitor
