// `asl convert`: the official Ego4D MQ moments JSON (data/convert.h), with a label map made
// from the input's first lines.
#include <cstdint>

#include "core/error.h"
#include "data/convert.h"
#include "fuzz_input.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  asl::data::ConvertOptions options;
  options.moments = {asl::fuzz::as_file(data, size, "_moments.json")};
  try {
    asl::data::convert_official(options);
  } catch (const asl::Error&) {
  }
  return 0;
}
