#include "core/failpoint.h"

#include <cstdlib>
#include <filesystem>

namespace asl {

std::optional<std::string> failpoint(const std::string& name) {
  const char* all = std::getenv("ASL_FAILPOINT");
  if (all == nullptr) return std::nullopt;
  const std::string spec(all), prefix = name + "@";
  for (size_t start = 0; start <= spec.size();) {
    size_t end = spec.find(',', start);
    if (end == std::string::npos) end = spec.size();
    const std::string one = spec.substr(start, end - start);
    if (one.rfind(prefix, 0) == 0) return one.substr(prefix.size());
    start = end + 1;
  }
  return std::nullopt;
}

bool failpoint_is(const std::string& name, const std::string& arg) {
  const auto value = failpoint(name);
  return value && *value == arg;
}

bool failpoint_no_space(const std::string& path) {
  const auto value = failpoint("no_space");
  return value && *value == std::filesystem::path(path).filename().string();
}

}  // namespace asl
