#include "monitor/process_stats.h"

#include <unistd.h>

#include <fstream>
#include <string>

namespace asl::monitor {
namespace {

// The first number of a file, or -1 ("max", missing, unreadable).
int64_t read_number(const char* path) {
  std::ifstream in(path);
  std::string word;
  if (!(in >> word) || word.empty() || word[0] < '0' || word[0] > '9') return -1;
  try {
    return static_cast<int64_t>(std::stoull(word));
  } catch (const std::exception&) {
    return -1;
  }
}

}  // namespace

int64_t resident_memory_bytes() {
  std::ifstream in("/proc/self/statm");
  int64_t size = 0, resident = 0;
  if (!(in >> size >> resident)) return 0;
  return resident * static_cast<int64_t>(sysconf(_SC_PAGESIZE));
}

int64_t memory_limit_bytes() {
  const int64_t physical =
      static_cast<int64_t>(sysconf(_SC_PHYS_PAGES)) * static_cast<int64_t>(sysconf(_SC_PAGESIZE));
  for (const char* path : {"/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"}) {
    const int64_t limit = read_number(path);
    // v1 reports "no limit" as a huge number; anything at or above the machine's memory is none.
    if (limit > 0 && limit < physical) return limit;
  }
  return physical;
}

}  // namespace asl::monitor
