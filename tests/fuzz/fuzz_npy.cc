// The .npy feature reader (data/feature_io.h).
#include <cstdint>

#include "core/error.h"
#include "data/feature_io.h"
#include "fuzz_input.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string path = asl::fuzz::as_file(data, size, ".npy");
  try {
    asl::data::read_npy(path);
  } catch (const asl::Error&) {
  }
  return 0;
}
