// The predictions / submission JSON scanner of `asl score` (eval/predictions.h).
#include <cstdint>
#include <string>

#include "core/error.h"
#include "eval/predictions.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  try {
    asl::eval::parse_predictions(std::string(reinterpret_cast<const char*>(data), size),
                                 "fuzz.json");
  } catch (const asl::Error&) {
  }
  return 0;
}
