// The data layer end to end, as a user runs it: synth (per-clip .pt files from the real clip
// layout) -> pack -> inspect --verify, and the config-driven dataset reading the store.
#include <gtest/gtest.h>

#include "common/test_util.h"

#include <filesystem>
#include <string>
#include <unistd.h>

#include "core/config.h"
#include "data/annotations.h"
#include "data/store.h"
#include "run.h"

namespace asl::testing {
namespace {

namespace fs = std::filesystem;

const std::string kTemplate = std::string(ASL_SOURCE_DIR) + "/tests/data/ego4d/clip_annotations.json";

TEST(DataPipeline, SynthPackInspectVerify) {
  const std::string dir = ::testing::TempDir() + "asl_pipeline_" + std::to_string(getpid());
  fs::remove_all(dir);
  RunResult r = run_asl({"synth", "--out", dir, "--template", kTemplate, "--clips", "12",
                         "--classes", "8", "--features", "egovlp:16,internvideo:8", "--write",
                         "pt", "--seed", "3"});
  ASSERT_EQ(r.code, 0) << r.err;
  const std::string clips = dir + "/clip_annotations.json";
  const data::ClipAnnotations a = data::read_clip_annotations(clips);
  EXPECT_GT(a.clips.size(), 0u);
  EXPECT_LE(a.clips.size(), 12u);

  const std::string store = dir + "/features.h5";
  r = run_asl({"pack", "--annotations", clips, "--feature", "egovlp=" + dir + "/egovlp",
               "--feature", "internvideo=" + dir + "/internvideo", "--out", store});
  ASSERT_EQ(r.code, 0) << r.err;
  ASSERT_TRUE(fs::exists(store));

  r = run_asl({"inspect", store, "--verify"});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_HAS(r.out, "egovlp");
  EXPECT_HAS(r.out, "internvideo");

  const data::StoreReader reader(store);
  EXPECT_EQ(reader.info().streams.size(), 2u);
  for (const auto& clip : a.clips) {
    ASSERT_TRUE(reader.has_clip(clip.clip_id)) << clip.clip_id;
    EXPECT_EQ(reader.read(clip.clip_id, 0).cols, 16);
    EXPECT_EQ(reader.read(clip.clip_id, 1).cols, 8);
  }

  r = run_asl({"inspect", clips});
  ASSERT_EQ(r.code, 0) << r.err;
  fs::remove_all(dir);
}

TEST(DataPipeline, PackRefusesAMissingStreamAndLeavesNoStore) {
  const std::string dir = ::testing::TempDir() + "asl_pipeline_bad_" + std::to_string(getpid());
  fs::remove_all(dir);
  RunResult r = run_asl({"synth", "--out", dir, "--template", kTemplate, "--clips", "4",
                         "--classes", "4", "--features", "a:4,b:4", "--write", "npy"});
  ASSERT_EQ(r.code, 0) << r.err;
  // Remove one clip's file of stream b.
  bool removed = false;
  for (const auto& entry : fs::directory_iterator(dir + "/b")) {
    fs::remove(entry.path());
    removed = true;
    break;
  }
  ASSERT_TRUE(removed);
  const std::string store = dir + "/features.h5";
  r = run_asl({"pack", "--annotations", dir + "/clip_annotations.json", "--feature",
               "a=" + dir + "/a", "--feature", "b=" + dir + "/b", "--out", store});
  EXPECT_EQ(r.code, 1);
  EXPECT_EQ(count_lines(r.err), 1) << r.err;
  EXPECT_FALSE(fs::exists(store));
  for (const auto& entry : fs::directory_iterator(dir)) {
    EXPECT_EQ(entry.path().filename().string().find(".tmp"), std::string::npos)
        << "temporary file left: " << entry.path();
  }
  fs::remove_all(dir);
}

}  // namespace
}  // namespace asl::testing
