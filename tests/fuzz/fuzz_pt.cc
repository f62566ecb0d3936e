// The .pt feature reader: a torch.save zip archive with a pickle and tensor records
// (data/feature_io.h over serialize/).
#include <cstdint>

#include "core/error.h"
#include "data/feature_io.h"
#include "fuzz_input.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string path = asl::fuzz::as_file(data, size, ".pt");
  try {
    asl::data::read_pt(path);
  } catch (const asl::Error&) {
  }
  return 0;
}
