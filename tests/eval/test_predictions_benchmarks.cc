// `asl bench --what score|nms` run once each: they check their own results (the official
// numbers on the benchmark file, the reference NMS loop's detections) before they time
// anything, so a pass here means those checks hold. No timing is asserted.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <nlohmann/json.hpp>
#include <string>

#include "cli/run.h"
#include "common/test_util.h"
#include "core/fs.h"

namespace asl::eval {
namespace {

using Json = nlohmann::json;

const std::string kRealClips = std::string(ASL_SOURCE_DIR) + "/tests/data/ego4d/clip_annotations.json";

std::string temp_json(const std::string& name) {
  return ::testing::TempDir() + name + "_" + std::to_string(getpid()) + ".json";
}

TEST(ScoreBench, ReproducesTheOfficialNumbersOnTheRealAnnotations) {
  const std::string out = temp_json("score_bench");
  ::setenv("ASL_EGO4D_ANNOTATIONS", kRealClips.c_str(), 1);
  const auto r = asl::testing::run_asl({"bench", "--what", "score", "--repeat", "1", "--json", out});
  ::unsetenv("ASL_EGO4D_ANNOTATIONS");
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_HAS(r.out, "521 val clips x 200 predictions (104200");
  EXPECT_HAS(r.out, "all 21 metrics checked against the official evaluator's");
  const Json j = Json::parse(read_file(out));
  EXPECT_EQ(j["annotations"], "real");
  EXPECT_LE(j["max_difference_to_official"].get<double>(), 1e-6);
  EXPECT_EQ(j["file_bytes"].get<int64_t>(), 24254577);  // bench_official.py's file, byte for byte
  std::remove(out.c_str());
}

TEST(ScoreBench, FallsBackToSyntheticClipsAndNamesAMissingFile) {
  ::setenv("ASL_EGO4D_ANNOTATIONS", "", 1);
  auto r = asl::testing::run_asl({"bench", "--what", "score", "--repeat", "1"});
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_HAS(r.out, "of synthetic clips");
  EXPECT_HAS(r.out, "measured on the real annotations, not on these clips");
  ::setenv("ASL_EGO4D_ANNOTATIONS", "/nonexistent/clips.json", 1);
  r = asl::testing::run_asl({"bench", "--what", "score", "--repeat", "1"});
  ::unsetenv("ASL_EGO4D_ANNOTATIONS");
  EXPECT_EQ(r.code, 1);
  EXPECT_HAS(r.err, "ASL_EGO4D_ANNOTATIONS=/nonexistent/clips.json: no such file");
}

TEST(NmsBench, MatchesTheReferenceLoopAndWritesItsJson) {
  const std::string out = temp_json("nms_bench");
  const auto r = asl::testing::run_asl({"bench", "--what", "nms", "--repeat", "1", "--json", out});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_HAS(r.out, "outputs checked equal");
  const Json j = Json::parse(read_file(out));
  EXPECT_EQ(j["clips"], 16);
  EXPECT_EQ(j["detections"], 16 * 200);  // every clip fills max_seg_num
  EXPECT_GT(j["candidates"].get<int64_t>(), 16 * 20000);
  std::remove(out.c_str());
}

}  // namespace
}  // namespace asl::eval
