// Memory facts of this process, read from /proc and the cgroup files (Linux).
#pragma once

#include <cstdint>

namespace asl::monitor {

// Resident set size in bytes (0 where /proc is unreadable).
int64_t resident_memory_bytes();

// The memory this process may use: its cgroup's limit (v2 memory.max, v1
// memory.limit_in_bytes) when one is set below the physical memory, else the physical memory.
int64_t memory_limit_bytes();

}  // namespace asl::monitor
