// The YAML config parser and its validation (core/config.h), with an override applied.
#include <cstdint>
#include <string>

#include "core/config.h"
#include "core/error.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  try {
    asl::config::load_config_text(text, "fuzz.yaml");
  } catch (const asl::Error&) {
  }
  try {  // the --set path: the input's first line as one override
    asl::config::load_config_text("dataset: {num_classes: 4}\n", "fuzz.yaml",
                                  {text.substr(0, text.find('\n'))});
  } catch (const asl::Error&) {
  }
  return 0;
}
