// The pickle machine alone (serialize/pickle.h): deep nesting, cycles through memo entries,
// huge declared lengths.
#include <cstdint>
#include <string>

#include "core/error.h"
#include "serialize/pickle.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  try {
    asl::serialize::unpickle(std::string(reinterpret_cast<const char*>(data), size), "fuzz.pkl");
  } catch (const asl::Error&) {
  }
  return 0;
}
