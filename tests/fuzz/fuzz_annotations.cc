// The clip annotation reader (data/annotations.h), the JSON every command reads first.
#include <cstdint>

#include "core/error.h"
#include "data/annotations.h"
#include "fuzz_input.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string path = asl::fuzz::as_file(data, size, ".json");
  try {
    asl::data::read_clip_annotations(path);
  } catch (const asl::Error&) {
  }
  return 0;
}
