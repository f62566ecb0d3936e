// `asl convert`: the official Ego4D MQ layout -> clip annotations. The acceptance test
// converts the official layout of the real annotations and gets back clip_annotations.json.
#include <gtest/gtest.h>

#include "common/test_util.h"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <string>
#include <tuple>
#include <vector>

#include <nlohmann/json.hpp>

#include "../cli/run.h"
#include "core/error.h"
#include "core/fs.h"
#include "data/annotations.h"
#include "data/convert.h"

namespace asl::data {
namespace {

using asl::testing::error_of;

using Json = nlohmann::ordered_json;

const std::string kEgo4d = std::string(ASL_SOURCE_DIR) + "/tests/data/ego4d/";
const std::string kOfficial = kEgo4d + "official_layout/";
// The feature rate written in the real clip_annotations.json (features / video second).
constexpr double kRealFps = 1.8741513727840071;

std::string temp_dir() {
  const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
  const std::string dir = ::testing::TempDir() + "asl_convert_" + info->test_suite_name() + "_" +
                          info->name() + "/";
  std::filesystem::remove_all(dir);
  make_dirs(dir);
  return dir;
}

void write_text(const std::string& path, const std::string& text) {
  std::ofstream(path, std::ios::binary) << text;
}

// --- the acceptance test: the real official layout converts back to clip_annotations.json ---

using Instance = std::tuple<std::string, double, double>;  // label, start, end

std::vector<Instance> sorted_instances(const Clip& c) {
  std::vector<Instance> v;
  for (const Segment& s : c.annotations) v.emplace_back(s.label, s.start, s.end);
  std::sort(v.begin(), v.end());
  return v;
}

TEST(ConvertReal, OfficialLayoutGivesBackTheClipAnnotations) {
  ConvertOptions options;
  options.moments = {kOfficial + "moments_train.json", kOfficial + "moments_val.json",
                     kOfficial + "moments_test_unannotated.json"};
  options.metadata = kOfficial + "ego4d.json";
  options.feature_fps = kRealFps;
  const std::string out = temp_dir() + "clips.json";
  const ConvertReport report = convert_to_file(options, out);
  EXPECT_EQ(report.dropped_unlabeled, 0);
  EXPECT_EQ(report.skipped_non_primary, 1736);  // about 10% of the 19,591 label entries
  EXPECT_EQ(report.videos_without_metadata, 0);

  const ClipAnnotations want = read_clip_annotations(kEgo4d + "clip_annotations.json");
  const ClipAnnotations got = read_clip_annotations(out);  // what was written reads back
  ASSERT_EQ(got.clips.size(), want.clips.size());
  std::size_t instances = 0;
  for (std::size_t i = 0; i < want.clips.size(); ++i) {
    const Clip& w = want.clips[i];
    const Clip& g = got.clips[i];
    ASSERT_EQ(g.clip_id, w.clip_id) << "clip order differs at " << i;
    SCOPED_TRACE(w.clip_id);
    EXPECT_EQ(g.video_id, w.video_id);
    EXPECT_EQ(g.subset, w.subset);
    EXPECT_NEAR(g.duration, w.duration, 1e-9);
    EXPECT_NEAR(g.parent_start_sec, w.parent_start_sec, 1e-9);
    EXPECT_NEAR(g.parent_end_sec, w.parent_end_sec, 1e-9);
    EXPECT_NEAR(g.v_duration, w.v_duration, 1e-9);
    EXPECT_EQ(g.fps, w.fps);
    // Segments and labels per clip as multisets (the order of annotators differs).
    const auto gs = sorted_instances(g);
    const auto ws = sorted_instances(w);
    ASSERT_EQ(gs.size(), ws.size());
    for (std::size_t k = 0; k < ws.size(); ++k) {
      EXPECT_EQ(std::get<0>(gs[k]), std::get<0>(ws[k]));
      EXPECT_NEAR(std::get<1>(gs[k]), std::get<1>(ws[k]), 1e-6);
      EXPECT_NEAR(std::get<2>(gs[k]), std::get<2>(ws[k]), 1e-6);
    }
    instances += gs.size();
  }
  EXPECT_EQ(instances, 17855u);
  // The built-in map numbers labels as the file does.
  EXPECT_EQ(got.label_dict(), want.label_dict());
}

TEST(ConvertReal, WithoutMetadataVideoDurationIsTheLastClipEnd) {
  ConvertOptions options;
  options.moments = {kOfficial + "moments_val.json"};
  const ConvertReport report = convert_official(options);
  ASSERT_EQ(report.annotations.clips.size(), 521u);
  std::map<std::string, double> last_end;
  for (const Clip& c : report.annotations.clips) {
    last_end[c.video_id] = std::max(last_end[c.video_id], c.parent_end_sec);
    EXPECT_EQ(c.fps, 1.875);  // the default feature rate
  }
  EXPECT_EQ(report.videos_without_metadata, static_cast<int64_t>(last_end.size()));
  for (const Clip& c : report.annotations.clips) EXPECT_EQ(c.v_duration, last_end[c.video_id]);
  EXPECT_HAS(describe(report), "v_duration of " + std::to_string(last_end.size()) + " videos");
}

TEST(ConvertLabels, BuiltInMapHas110UniqueNames) {
  const auto& names = ego4d_mq_labels();
  ASSERT_EQ(names.size(), 110u);
  EXPECT_EQ(names[0], "take_photo_/_record_video_with_a_camera");
  EXPECT_EQ(names[16], "use_phone");
  EXPECT_EQ(names[33], "\"clean_/_repair_small_equipment_(mower,_trimmer_etc.)\"");
  EXPECT_EQ(names[109], "hang_clothes_to_dry");
  auto sorted = names;
  std::sort(sorted.begin(), sorted.end());
  EXPECT_EQ(std::unique(sorted.begin(), sorted.end()), sorted.end());
}

// --- hand-worked small cases -------------------------------------------------------------

// Video v1 (train): clip A with two annotators (one primary label each, plus a non-primary
// one), clip B with only a non-primary label (dropped). Video v2 (test): clip T, no labels.
const char* kTinyTrain = R"({"version": "v1", "videos": [
  {"video_uid": "v1", "split": "train", "clips": [
    {"clip_uid": "A", "video_start_sec": 10.0, "video_end_sec": 490.0,
     "annotations": [
       {"annotator_uid": "x", "labels": [
          {"start_time": 1.0, "end_time": 5, "label": "use_phone", "primary": true},
          {"start_time": 2.0, "end_time": 3.0, "label": "not_a_label_at_all", "primary": false}]},
       {"annotator_uid": "y", "labels": [
          {"start_time": 100.0, "end_time": 110.5, "label": "wash_hands", "primary": true}]}]},
    {"clip_uid": "B", "video_start_sec": 500.0, "video_end_sec": 980.0,
     "annotations": [{"annotator_uid": "x", "labels": [
          {"start_time": 4.0, "end_time": 8.0, "label": "use_phone", "primary": false}]}]}]}]})";
const char* kTinyTest = R"({"videos": [
  {"video_uid": "v2", "split": "test", "clips": [
    {"clip_uid": "T", "video_start_sec": 0, "video_end_sec": 300.25}]}]})";
const char* kTinyMetadata = R"({"date": "x", "videos": [
  {"video_uid": "v1", "duration_sec": 3000.5, "fps": 30, "scenarios": ["cooking"]},
  {"video_uid": "v2", "duration_sec": 600}]})";

struct Tiny {
  std::string dir;
  ConvertOptions options;
};

Tiny write_tiny(const std::string& train = kTinyTrain) {
  Tiny t{temp_dir(), {}};
  write_text(t.dir + "moments_train.json", train);
  write_text(t.dir + "moments_test.json", kTinyTest);
  write_text(t.dir + "ego4d.json", kTinyMetadata);
  t.options.moments = {t.dir + "moments_train.json", t.dir + "moments_test.json"};
  t.options.metadata = t.dir + "ego4d.json";
  return t;
}

TEST(ConvertTiny, PrimaryLabelsUnlabeledClipsAndTestClips) {
  const Tiny t = write_tiny();
  const ConvertReport r = convert_to_file(t.options, t.dir + "clips.json");
  EXPECT_EQ(r.dropped_unlabeled, 1);   // B
  EXPECT_EQ(r.skipped_non_primary, 2);
  const ClipAnnotations a = read_clip_annotations(t.dir + "clips.json");
  ASSERT_EQ(a.clips.size(), 2u);
  const Clip& c = a.clips[0];
  EXPECT_EQ(c.clip_id, "A");
  EXPECT_EQ(c.video_id, "v1");
  EXPECT_EQ(c.subset, "train");
  EXPECT_EQ(c.duration, 480.0);
  EXPECT_EQ(c.parent_start_sec, 10.0);
  EXPECT_EQ(c.parent_end_sec, 490.0);
  EXPECT_EQ(c.v_duration, 3000.5);
  EXPECT_EQ(c.fps, 1.875);
  ASSERT_EQ(c.annotations.size(), 2u);
  EXPECT_EQ(c.annotations[0].start, 1.0);
  EXPECT_EQ(c.annotations[0].end, 5.0);
  EXPECT_EQ(c.annotations[0].label, "use_phone");
  EXPECT_EQ(c.annotations[0].label_id, 16);
  EXPECT_EQ(c.annotations[1].start, 100.0);
  EXPECT_EQ(c.annotations[1].end, 110.5);
  EXPECT_EQ(c.annotations[1].label, "wash_hands");
  EXPECT_EQ(c.annotations[1].label_id, 5);
  const Clip& test = a.clips[1];
  EXPECT_EQ(test.clip_id, "T");
  EXPECT_EQ(test.subset, "test");
  EXPECT_EQ(test.duration, 300.25);
  EXPECT_EQ(test.v_duration, 600.0);
  EXPECT_TRUE(test.annotations.empty());

  EXPECT_EQ(describe(r),
            "2 clips (train 1, test 1)\n"
            "2 instances (train 2, test 0)\n"
            "2 classes\n"
            "clip duration: min 300.2 s, mean 390.1 s, max 480.0 s\n"
            "dropped 1 train/val clips without a primary label; skipped 2 non-primary labels\n");
}

TEST(ConvertTiny, FeatureFpsAndLabelMap) {
  Tiny t = write_tiny();
  write_text(t.dir + "labels.txt", "wash_hands\r\n  use_phone \n");
  t.options.label_map = t.dir + "labels.txt";
  t.options.feature_fps = 30.0 / 16.0 / 2.0;
  const ConvertReport r = convert_official(t.options);
  const Clip& c = r.annotations.clips[0];
  EXPECT_EQ(c.fps, 0.9375);
  EXPECT_EQ(c.annotations[0].label_id, 1);  // use_phone: second line
  EXPECT_EQ(c.annotations[1].label_id, 0);
}

TEST(ConvertTiny, AClipListedTwiceIsMerged) {
  // The reference converter appends the annotations of a repeated clip to the first entry.
  std::string train = kTinyTrain;
  Json j = Json::parse(train);
  j["videos"].push_back(j["videos"][0]);
  const Tiny t = write_tiny(j.dump());
  const ConvertReport r = convert_official(t.options);
  ASSERT_EQ(r.annotations.clips.size(), 2u);
  EXPECT_EQ(r.annotations.clips[0].annotations.size(), 4u);
  EXPECT_EQ(r.skipped_non_primary, 4);
}

// --- bad input: one clear error naming file, clip and key; --out is never created ----------

// Converts to <dir>/clips.json and returns the error; checks that nothing was written.
std::string convert_error(const ConvertOptions& options, const std::string& dir) {
  const std::string m = error_of([&] { convert_to_file(options, dir + "clips.json"); });
  EXPECT_FALSE(path_exists(dir + "clips.json"));
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    EXPECT_EQ(entry.path().filename().string().find("clips.json"), std::string::npos)
        << "left behind: " << entry.path();
  }
  EXPECT_EQ(m.find('\n'), std::string::npos) << m;
  return m;
}

// kTinyTrain with one substring replaced.
std::string tiny_with(const std::string& from, const std::string& to) {
  std::string s = kTinyTrain;
  const auto at = s.find(from);
  EXPECT_NE(at, std::string::npos) << from;
  return s.replace(at, from.size(), to);
}

TEST(ConvertErrors, MalformedJson) {
  const Tiny t = write_tiny(tiny_with("\"clips\": [", "\"clips\" ["));
  const std::string m = convert_error(t.options, t.dir);
  EXPECT_HAS(m, t.dir + "moments_train.json: malformed JSON at line 2, column");
}

TEST(ConvertErrors, MissingField) {
  const Tiny t = write_tiny(tiny_with("\"end_time\": 110.5, ", ""));
  EXPECT_HAS(convert_error(t.options, t.dir),
             t.dir + "moments_train.json: clip A: annotations[1].labels[0].end_time: missing");
}

TEST(ConvertErrors, IllTypedField) {
  const Tiny t = write_tiny(tiny_with("\"primary\": true}]}]}", "\"primary\": 1}]}]}"));
  EXPECT_HAS(convert_error(t.options, t.dir),
             "clip A: annotations[1].labels[0].primary: expected true or false, found a number");
}

TEST(ConvertErrors, EndBeforeStart) {
  const Tiny t = write_tiny(tiny_with("\"end_time\": 110.5", "\"end_time\": 99.5"));
  EXPECT_HAS(convert_error(t.options, t.dir),
             "moments_train.json: clip A: annotations[1].labels[0]: end 99.5 is before start 100");
}

TEST(ConvertErrors, SegmentOutsideTheClip) {
  // Clip A lasts 480 s; 490 s is beyond the 8 s tolerance. A video-relative time would do this.
  const Tiny t = write_tiny(tiny_with("\"end_time\": 110.5", "\"end_time\": 490"));
  EXPECT_HAS(convert_error(t.options, t.dir),
             "moments_train.json: clip A: annotations[1].labels[0]: segment [100, 490] lies "
             "outside the clip [0, 480]");
}

TEST(ConvertErrors, UnknownLabel) {
  const Tiny t = write_tiny(tiny_with("\"label\": \"wash_hands\"", "\"label\": \"wash_hand\""));
  const std::string m = convert_error(t.options, t.dir);
  EXPECT_HAS(m, "clip A: annotations[1].labels[0].label: unknown label 'wash_hand'; did you "
                "mean 'wash_hands'?");
  EXPECT_HAS(m, "built-in Ego4D MQ v1 map");
}

TEST(ConvertErrors, UnknownLabelForALabelMap) {
  Tiny t = write_tiny();
  write_text(t.dir + "labels.txt", "use_phone\n");
  t.options.label_map = t.dir + "labels.txt";
  const std::string m = convert_error(t.options, t.dir);
  EXPECT_HAS(m, "clip A: annotations[1].labels[0].label: unknown label 'wash_hands'");
  EXPECT_HAS(m, "the label map " + t.dir + "labels.txt");
}

TEST(ConvertErrors, MissingFile) {
  Tiny t = write_tiny();
  t.options.moments.push_back(t.dir + "moments_val.json");
  const std::string m = convert_error(t.options, t.dir);
  EXPECT_HAS(m, t.dir + "moments_val.json: cannot open");
}

TEST(ConvertErrors, VideoMissingFromTheMetadata) {
  Tiny t = write_tiny();
  write_text(t.dir + "ego4d.json", R"({"videos": [{"video_uid": "v1", "duration_sec": 3000.5}]})");
  EXPECT_HAS(convert_error(t.options, t.dir),
             "moments_test.json: clip T: video v2 is not listed in " + t.dir + "ego4d.json");
}

TEST(ConvertErrors, ClipEndingBeforeItStarts) {
  const Tiny t = write_tiny(tiny_with("\"video_end_sec\": 490.0", "\"video_end_sec\": 5.0"));
  EXPECT_HAS(convert_error(t.options, t.dir),
             "moments_train.json: clip A: video_end_sec: 5 is not after video_start_sec 10");
}

TEST(ConvertErrors, ClipListedAgainDifferently) {
  Json j = Json::parse(kTinyTrain);
  j["videos"].push_back(j["videos"][0]);
  j["videos"][1]["clips"][0]["video_end_sec"] = 480.0;
  const Tiny t = write_tiny(j.dump());
  EXPECT_HAS(convert_error(t.options, t.dir),
             "clip A: listed again with another video, split or times (first in " + t.dir +
                 "moments_train.json)");
}

TEST(ConvertErrors, BadLabelMap) {
  Tiny t = write_tiny();
  write_text(t.dir + "labels.txt", "use_phone\n\nwash_hands\n");
  t.options.label_map = t.dir + "labels.txt";
  EXPECT_HAS(convert_error(t.options, t.dir), t.dir + "labels.txt:2: empty line");
  write_text(t.dir + "labels.txt", "use_phone\nwash_hands\nuse_phone\n");
  EXPECT_HAS(convert_error(t.options, t.dir),
             t.dir + "labels.txt:3: label 'use_phone' is already on line 1");
}

TEST(ConvertErrors, ExistingOutputIsKeptOnFailure) {
  const Tiny t = write_tiny(tiny_with("\"end_time\": 110.5", "\"end_time\": 99.5"));
  write_text(t.dir + "clips.json", "old");
  error_of([&] { convert_to_file(t.options, t.dir + "clips.json"); });
  EXPECT_EQ(read_file(t.dir + "clips.json"), "old");
}

// --- the real binary -------------------------------------------------------------------------

TEST(ConvertCommand, WritesTheClipsAndPrintsASummary) {
  const Tiny t = write_tiny();
  const auto r = asl::testing::run_asl({"convert", "--moments", t.options.moments[0], "--moments",
                                        t.options.moments[1], "--metadata", t.options.metadata,
                                        "--out", t.dir + "clips.json"});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_HAS(r.out, "2 clips (train 1, test 1)");
  EXPECT_HAS(r.out, "dropped 1 train/val clips");
  EXPECT_HAS(r.out, "skipped 2 non-primary labels");
  EXPECT_EQ(read_clip_annotations(t.dir + "clips.json").clips.size(), 2u);
}

TEST(ConvertCommand, BadInputExitsOneWithOneLine) {
  const Tiny t = write_tiny(tiny_with("\"end_time\": 110.5", "\"end_time\": 99.5"));
  const auto r = asl::testing::run_asl(
      {"convert", "--moments", t.options.moments[0], "--out", t.dir + "clips.json"});
  EXPECT_EQ(r.code, 1);
  EXPECT_EQ(asl::testing::count_lines(r.err), 1) << r.err;
  EXPECT_HAS(r.err, "error: " + t.dir + "moments_train.json: clip A: annotations[1].labels[0]");
  EXPECT_TRUE(r.out.empty()) << r.out;
  EXPECT_FALSE(path_exists(t.dir + "clips.json"));
}

}  // namespace
}  // namespace asl::data
