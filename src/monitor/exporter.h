// The process's Prometheus endpoint: one HTTP server per rank serving /metrics, and the
// registry every metric of the process is created in. One Exporter per process, created by
// the command before any work (a taken port must fail first) and kept until it returns;
// code that records metrics finds it through Exporter::current() and does nothing without one.
// No prometheus-cpp in this header: only src/monitor/ links it.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>

namespace prometheus {
class Registry;
}

namespace asl::monitor {

struct ExporterOptions {
  std::string address = "127.0.0.1";
  int64_t port = 0;            // 0: no exporter
  bool port_per_rank = true;   // serve on port + local_rank
  std::string job = "ego4d_asl";
  std::string run;             // the run label
  int rank = 0, local_rank = 0, local_size = 1;
  double linger_s = 0;         // keep serving this long in linger()
};

// GPU memory read at scrape time (CUDA builds set a reader; see set_gpu_memory_reader).
struct GpuMemory {
  int64_t used_bytes = 0;      // the device's memory in use (all processes)
  int64_t total_bytes = 0;
};

class Exporter {
 public:
  // Binds ADDRESS:PORT(+local_rank) and serves. Throws asl::Error naming the port, the
  // address and the monitoring.* key when the port is taken or the address is invalid.
  explicit Exporter(const ExporterOptions& options);
  ~Exporter();
  Exporter(const Exporter&) = delete;
  Exporter& operator=(const Exporter&) = delete;

  // The live Exporter, or nullptr (monitoring off).
  static Exporter* current();

  int port() const { return port_; }
  const ExporterOptions& options() const { return options_; }
  // The labels every series carries: job, run, rank.
  const std::map<std::string, std::string>& common_labels() const { return labels_; }
  prometheus::Registry& registry() { return *registry_; }

  // asl_build_info{...} = 1, with the common labels and these.
  void set_build_info(const std::map<std::string, std::string>& labels);
  // Called on each scrape to fill asl_gpu_memory_*; returns false when there is no GPU.
  void set_gpu_memory_reader(std::function<bool(GpuMemory&)> reader);

  // Keeps serving for options().linger_s seconds so the final values get scraped.
  void linger() const;

 private:
  struct Server;
  ExporterOptions options_;
  int port_ = 0;
  std::map<std::string, std::string> labels_;
  std::shared_ptr<prometheus::Registry> registry_;
  std::unique_ptr<Server> server_;
};

// The port rank `local_rank` serves on, or an asl::Error naming the monitoring.* key when
// the options cannot work (a port out of range; port_per_rank false with several ranks on
// a node).
int exporter_port(const ExporterOptions& options);

}  // namespace asl::monitor
