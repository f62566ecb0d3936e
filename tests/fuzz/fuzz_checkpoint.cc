// What this project checks of a checkpoint before LibTorch's archive reader sees it
// (model/native_checkpoint.h): the zip directory (serialize/zip_reader.h) and the CRC-32 of
// every record, read in blocks. LibTorch's reader itself is not fuzzed here: it is not linked
// into the tensor-free fuzz tree, and a changed byte no longer reaches it.
#include <cstdint>

#include "core/error.h"
#include "fuzz_input.h"
#include "serialize/zip_reader.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string path = asl::fuzz::as_file(data, size, ".ckpt");
  try {
    const asl::serialize::ZipReader zip(path);
    zip.verify_checksums();
    for (const char* record : {"data.pkl", "version", "constants.pkl"}) {
      if (zip.has(record)) zip.read(record);
    }
  } catch (const asl::Error&) {
  }
  return 0;
}
