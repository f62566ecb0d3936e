#include "core/logging.h"

#include <spdlog/sinks/basic_file_sink.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <cstdlib>
#include <memory>
#include <vector>

#include "core/error.h"

namespace asl::logging {
namespace {

int g_rank = 0;
int g_world = 1;

int env_int(const char* name, int fallback) {
  const char* v = std::getenv(name);
  if (!v || !*v) return fallback;
  char* end = nullptr;
  const long x = std::strtol(v, &end, 10);
  return (end && *end == '\0') ? static_cast<int>(x) : fallback;
}

void apply_pattern() {
  // Time, rank of world, level, message. The rank is always shown so that merged
  // logs of a multi-rank job stay readable.
  spdlog::set_pattern("[%Y-%m-%d %H:%M:%S.%e] [rank " + std::to_string(g_rank) + "/" +
                      std::to_string(g_world) + "] [%^%l%$] %v");
}

}  // namespace

std::pair<int, int> rank_from_environment() {
  const std::pair<const char*, const char*> launchers[] = {
      {"OMPI_COMM_WORLD_RANK", "OMPI_COMM_WORLD_SIZE"},
      {"PMIX_RANK", "OMPI_COMM_WORLD_SIZE"},
      {"PMI_RANK", "PMI_SIZE"},
      {"SLURM_PROCID", "SLURM_NTASKS"}};
  for (const auto& [rank_var, size_var] : launchers) {
    const int r = env_int(rank_var, -1);
    const int n = env_int(size_var, -1);
    if (r >= 0 && n > r) return {r, n};
  }
  return {0, 1};
}

void init(const Options& options) {
  const auto level = spdlog::level::from_str(options.level);
  if (level == spdlog::level::off && options.level != "off") {
    throw Error("--log-level", "unknown level '" + options.level + "'",
                "use trace, debug, info, warn, error, critical or off");
  }
  std::tie(g_rank, g_world) = rank_from_environment();

  std::vector<spdlog::sink_ptr> sinks;
  sinks.push_back(std::make_shared<spdlog::sinks::stderr_color_sink_mt>());
  if (!options.file.empty()) {
    std::string path = options.file;
    const auto at = path.find("{rank}");
    if (at != std::string::npos) path.replace(at, 6, std::to_string(g_rank));
    try {
      sinks.push_back(std::make_shared<spdlog::sinks::basic_file_sink_mt>(path));
    } catch (const spdlog::spdlog_ex& e) {
      throw Error(path, std::string("cannot open the log file: ") + e.what(),
                  "check that the folder exists and is writable");
    }
  }
  auto logger = std::make_shared<spdlog::logger>("asl", sinks.begin(), sinks.end());
  logger->set_level(level);
  logger->flush_on(spdlog::level::warn);
  spdlog::set_default_logger(logger);
  apply_pattern();
}

void set_rank(int rank, int world_size) {
  g_rank = rank;
  g_world = world_size;
  apply_pattern();
}

int rank() { return g_rank; }
int world_size() { return g_world; }

std::string rank_prefix() {
  if (g_world <= 1) return "";
  return "[rank " + std::to_string(g_rank) + "/" + std::to_string(g_world) + "] ";
}

}  // namespace asl::logging
