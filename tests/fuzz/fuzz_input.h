// What the fuzz targets share: the input as a file (for the readers that take a path), and
// the rule every target checks: a parser either returns or throws asl::Error. Anything else
// (a crash, a sanitizer report, another exception, a hang, a huge allocation) is a finding.
#pragma once

#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <string>

namespace asl::fuzz {

// Writes the bytes to `path` (a failure to write is the harness's fault: trap).
inline void write_bytes(const std::string& path, const uint8_t* data, size_t size) {
  std::FILE* f = std::fopen(path.c_str(), "wb");
  if (!f) __builtin_trap();
  if (size > 0 && std::fwrite(data, 1, size, f) != size) __builtin_trap();
  std::fclose(f);
}

// The bytes written to one file per process, named with `suffix` (readers look at it).
inline std::string as_file(const uint8_t* data, size_t size, const std::string& suffix) {
  const std::string path = "/tmp/asl_fuzz_" + std::to_string(getpid()) + suffix;
  write_bytes(path, data, size);
  return path;
}

}  // namespace asl::fuzz
