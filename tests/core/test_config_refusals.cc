// Reference choices this project does not implement fail when the config loads, naming the
// key and the fix, before any model or data is built.
#include <gtest/gtest.h>

#include "common/test_util.h"
#include "core/config.h"

namespace asl::config {
namespace {

const std::string kDemo = std::string(ASL_SOURCE_DIR) + "/configs/demo.yaml";

TEST(ConfigRefusals, SgdAndMultistepAreRefusedAtLoadWithTheFix) {
  std::string e = asl::testing::error_of([] { load_config(kDemo, {"opt.type=SGD"}); });
  EXPECT_HAS(e, "opt.type");
  EXPECT_HAS(e, "use AdamW");
  e = asl::testing::error_of([] { load_config(kDemo, {"opt.schedule_type=multistep"}); });
  EXPECT_HAS(e, "opt.schedule_type");
  EXPECT_HAS(e, "use cosine");
  e = asl::testing::error_of([] { load_config(kDemo, {"opt.type=Adam"}); });
  EXPECT_HAS(e, "is not one of AdamW, SGD");
  EXPECT_NO_THROW(load_config(kDemo, {"train_cfg.on_nonfinite=stop"}));
  e = asl::testing::error_of([] { load_config(kDemo, {"train_cfg.on_nonfinite=ignore"}); });
  EXPECT_HAS(e, "train_cfg.on_nonfinite");
  e = asl::testing::error_of([] { load_config(kDemo, {"monitoring.linger_s=-1"}); });
  EXPECT_HAS(e, "monitoring.linger_s");
}

// Found by the fuzzer (tests/fuzz/fuzz_config.cc): a key that is not a name, or YAML of an
// unexpected shape, is one asl::Error, never a YAML exception.
TEST(ConfigRefusals, KeysThatAreNotNamesAreOneError) {
  std::string e = asl::testing::error_of([] { load_config_text("dataset: {[1, 2]: 3}\n", "x.yaml"); });
  EXPECT_HAS(e, "x.yaml: a key under 'dataset' is not a name");
  e = asl::testing::error_of([] { load_config_text("? [a]\n: 1\n", "y.yaml"); });
  EXPECT_HAS(e, "y.yaml: ");
}

}  // namespace
}  // namespace asl::config
