// Clip annotations: reading (validation), writing, de-duplication and the summary, on
// hand-written files and on the real Ego4D MQ v1 annotations.
#include <gtest/gtest.h>

#include "common/test_util.h"

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <string>

#include <nlohmann/json.hpp>

#include "core/error.h"
#include "core/fs.h"
#include "data/annotations.h"
#include "data/convert.h"

namespace asl::data {
namespace {

using asl::testing::error_of;

using Json = nlohmann::ordered_json;

const std::string kRealClips = std::string(ASL_SOURCE_DIR) + "/tests/data/ego4d/clip_annotations.json";

// A fresh folder per test under the GoogleTest temp dir.
std::string temp_dir() {
  const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
  const std::string dir = ::testing::TempDir() + "asl_annotations_" + info->test_suite_name() +
                          "_" + info->name() + "/";
  std::filesystem::remove_all(dir);
  make_dirs(dir);
  return dir;
}

void write_text(const std::string& path, const std::string& text) {
  std::ofstream(path, std::ios::binary) << text;
}

// Two valid clips; tests break one field at a time.
Json good_clips() {
  return Json::parse(R"({
    "c1": {"video_id": "v1", "clip_id": "c1", "duration": 100.0, "parent_start_sec": 20.0,
           "parent_end_sec": 120.0, "v_duration": 300.5, "fps": 1.875,
           "annotations": [{"segment": [1.5, 4], "label": "use_phone", "label_id": 16},
                           {"segment": [10.0, 20.25], "label": "wash_hands", "label_id": 5}],
           "subset": "train"},
    "c2": {"video_id": "v2", "clip_id": "c2", "duration": 50, "parent_start_sec": 0,
           "parent_end_sec": 50, "v_duration": 50, "fps": 1.875, "annotations": [],
           "subset": "Test"}
  })");
}

// Writes `clips` and returns the reader's error message.
std::string read_error(const Json& clips, std::string* path_out = nullptr) {
  const std::string path = temp_dir() + "clips.json";
  write_text(path, clips.dump(1));
  if (path_out) *path_out = path;
  return error_of([&] { read_clip_annotations(path); });
}

TEST(ClipAnnotations, ReadsEveryField) {
  const std::string path = temp_dir() + "clips.json";
  write_text(path, good_clips().dump());
  const ClipAnnotations a = read_clip_annotations(path);
  ASSERT_EQ(a.clips.size(), 2u);
  const Clip& c = a.clips[0];
  EXPECT_EQ(c.clip_id, "c1");
  EXPECT_EQ(c.video_id, "v1");
  EXPECT_EQ(c.subset, "train");
  EXPECT_EQ(c.duration, 100.0);
  EXPECT_EQ(c.parent_start_sec, 20.0);
  EXPECT_EQ(c.parent_end_sec, 120.0);
  EXPECT_EQ(c.v_duration, 300.5);
  EXPECT_EQ(c.fps, 1.875);
  ASSERT_EQ(c.annotations.size(), 2u);
  EXPECT_EQ(c.annotations[0].start, 1.5);
  EXPECT_EQ(c.annotations[0].end, 4.0);  // an integer in the file
  EXPECT_EQ(c.annotations[0].label, "use_phone");
  EXPECT_EQ(c.annotations[0].label_id, 16);
  EXPECT_EQ(c.annotations[1].end, 20.25);
  EXPECT_TRUE(a.clips[1].annotations.empty());

  EXPECT_EQ(a.find("c2"), &a.clips[1]);
  EXPECT_EQ(a.find("c3"), nullptr);
  const auto test = a.select({"test"});  // case-insensitive: the file says "Test"
  ASSERT_EQ(test.size(), 1u);
  EXPECT_EQ(test[0]->clip_id, "c2");
  EXPECT_EQ(a.select({"TRAIN", "test"}).size(), 2u);
  EXPECT_TRUE(a.select({"val"}).empty());
  const std::map<std::string, int64_t> dict{{"use_phone", 16}, {"wash_hands", 5}};
  EXPECT_EQ(a.label_dict(), dict);
}

TEST(ClipAnnotations, TestClipsMayOmitAnnotationsAndClipId) {
  Json clips = good_clips();
  clips["c2"].erase("annotations");
  clips["c2"].erase("clip_id");
  const std::string path = temp_dir() + "clips.json";
  write_text(path, clips.dump());
  const ClipAnnotations a = read_clip_annotations(path);
  EXPECT_EQ(a.clips[1].clip_id, "c2");
  EXPECT_TRUE(a.clips[1].annotations.empty());
}

TEST(ClipAnnotations, AcceptsOvershootWithinTheTolerance) {
  Json clips = good_clips();
  // The real file overshoots by up to 7.2 s (segments ending at a truncated clip's nominal 480 s).
  clips["c1"]["annotations"][0]["segment"] = {92.0, 100.0 + 7.9};
  clips["c1"]["annotations"][1]["segment"] = {-7.9, 3.0};
  const std::string path = temp_dir() + "clips.json";
  write_text(path, clips.dump());
  EXPECT_EQ(read_clip_annotations(path).clips[0].annotations[0].end, 107.9);
}

// --- bad input: each error names the file, the clip and the key ----------------------------

TEST(ClipAnnotationsErrors, MalformedJsonGivesLineAndColumn) {
  const std::string path = temp_dir() + "clips.json";
  write_text(path, "{\n  \"c1\": {\"video_id\": \"v1\",\n    \"subset\" \"train\"}\n}\n");
  const std::string m = error_of([&] { read_clip_annotations(path); });
  EXPECT_HAS(m, path);
  EXPECT_HAS(m, "malformed JSON");
  EXPECT_HAS(m, "line 3, column");
  EXPECT_EQ(m.find('\n'), std::string::npos);
}

// Found by tests/fuzz/fuzz_annotations.cc: a number too large for a double was an uncaught
// exception; it is one error naming the file.
TEST(ClipAnnotationsErrors, ANumberPastDoubleIsOneError) {
  const std::string path = temp_dir() + "huge.json";
  write_text(path, "{\"c1\": {\"duration\": 874e26487}}");
  const std::string m = error_of([&] { read_clip_annotations(path); });
  EXPECT_HAS(m, path + ": unreadable JSON: number overflow");
  EXPECT_EQ(m.find('\n'), std::string::npos);
}

TEST(ClipAnnotationsErrors, TopLevelMustBeAnObject) {
  std::string path;
  const std::string m = read_error(Json::array({1, 2}), &path);
  EXPECT_HAS(m, path);
  EXPECT_HAS(m, "top level must be an object");
}

TEST(ClipAnnotationsErrors, MissingField) {
  Json clips = good_clips();
  clips["c1"].erase("duration");
  std::string path;
  const std::string m = read_error(clips, &path);
  EXPECT_HAS(m, path + ": clip c1: duration: missing");
}

TEST(ClipAnnotationsErrors, IllTypedField) {
  Json clips = good_clips();
  clips["c2"]["fps"] = "1.875";
  EXPECT_HAS(read_error(clips), "clip c2: fps: expected a number, found a string");
  clips = good_clips();
  clips["c1"]["annotations"][1]["label_id"] = 5.5;
  EXPECT_HAS(read_error(clips), "clip c1: annotations[1].label_id: expected an integer");
  clips = good_clips();
  clips["c1"]["annotations"][1]["label"] = nullptr;
  EXPECT_HAS(read_error(clips), "clip c1: annotations[1].label: expected a string, found null");
  clips = good_clips();
  clips["c1"]["duration"] = 0;
  EXPECT_HAS(read_error(clips), "clip c1: duration: must be positive");
}

TEST(ClipAnnotationsErrors, SegmentNotAPair) {
  Json clips = good_clips();
  clips["c1"]["annotations"][1]["segment"] = {1.0, 2.0, 3.0};
  EXPECT_HAS(read_error(clips), "clip c1: annotations[1].segment: expected [start, end], found 3");
  clips["c1"]["annotations"][1]["segment"] = {1.0, "2"};
  EXPECT_HAS(read_error(clips), "clip c1: annotations[1].segment[1]: expected a number");
}

TEST(ClipAnnotationsErrors, EndBeforeStart) {
  Json clips = good_clips();
  clips["c1"]["annotations"][1]["segment"] = {20.5, 10.0};
  std::string path;
  const std::string m = read_error(clips, &path);
  EXPECT_HAS(m, path + ": clip c1: annotations[1].segment: end 10 is before start 20.5");
}

TEST(ClipAnnotationsErrors, SegmentOutsideTheClip) {
  Json clips = good_clips();
  clips["c1"]["annotations"][0]["segment"] = {90.0, 100.0 + 8.5};  // beyond the 8 s tolerance
  EXPECT_HAS(read_error(clips), "clip c1: annotations[0].segment: segment [90, 108.5] lies "
                                "outside the clip [0, 100]");
  clips["c1"]["annotations"][0]["segment"] = {-8.5, 1.0};
  EXPECT_HAS(read_error(clips), "clip c1: annotations[0].segment: segment [-8.5, 1] lies outside");
}

TEST(ClipAnnotationsErrors, NegativeLabelId) {
  Json clips = good_clips();
  clips["c1"]["annotations"][0]["label_id"] = -1;
  EXPECT_HAS(read_error(clips), "clip c1: annotations[0].label_id: must be 0 or more, found -1");
}

TEST(ClipAnnotationsErrors, OneLabelNameWithTwoIds) {
  Json clips = good_clips();
  clips["c2"]["subset"] = "val";
  clips["c2"]["annotations"] = Json::parse(R"([{"segment": [1, 2], "label": "use_phone", "label_id": 3}])");
  EXPECT_HAS(read_error(clips),
             "clip c2: annotations[0].label: label 'use_phone' has id 3 here but id 16 in clip c1");
}

TEST(ClipAnnotationsErrors, OneIdWithTwoNames) {
  Json clips = good_clips();
  clips["c1"]["annotations"][1]["label_id"] = 16;
  EXPECT_HAS(read_error(clips), "clip c1: annotations[1].label: label_id 16 names 'wash_hands' "
                                "here but 'use_phone' in clip c1");
}

TEST(ClipAnnotationsErrors, TrainClipWithoutAnnotations) {
  Json clips = good_clips();
  clips["c1"]["annotations"] = Json::array();
  EXPECT_HAS(read_error(clips), "clip c1: annotations: a train clip has no annotations");
  clips["c1"].erase("annotations");
  EXPECT_HAS(read_error(clips), "clip c1: annotations: a train clip has no annotations");
}

TEST(ClipAnnotationsErrors, ClipIdTwiceOrDifferentFromItsKey) {
  const std::string path = temp_dir() + "clips.json";
  const std::string c2 = good_clips()["c2"].dump();
  write_text(path, "{\"c2\": " + c2 + ",\n \"c2\": " + c2 + "}");
  EXPECT_HAS(error_of([&] { read_clip_annotations(path); }),
             path + ": clip c2: the clip id appears twice");
  Json clips = good_clips();
  clips["c2"]["clip_id"] = "c9";
  EXPECT_HAS(read_error(clips), "clip c2: clip_id: 'c9' differs from the clip's key");
}

TEST(ClipAnnotationsErrors, MissingFile) {
  const std::string path = temp_dir() + "absent.json";
  const std::string m = error_of([&] { read_clip_annotations(path); });
  EXPECT_HAS(m, path);
  EXPECT_HAS(m, "cannot open");
}

// --- writing ---------------------------------------------------------------------------------

TEST(ClipAnnotations, WriteThenReadGivesTheSameClips) {
  const std::string dir = temp_dir();
  write_text(dir + "in.json", good_clips().dump());
  const ClipAnnotations a = read_clip_annotations(dir + "in.json");
  write_clip_annotations(a, dir + "out.json");
  const ClipAnnotations b = read_clip_annotations(dir + "out.json");
  ASSERT_EQ(b.clips.size(), a.clips.size());
  for (std::size_t i = 0; i < a.clips.size(); ++i) {
    EXPECT_EQ(b.clips[i].clip_id, a.clips[i].clip_id);
    EXPECT_EQ(b.clips[i].subset, a.clips[i].subset);
    EXPECT_EQ(b.clips[i].v_duration, a.clips[i].v_duration);
    ASSERT_EQ(b.clips[i].annotations.size(), a.clips[i].annotations.size());
    for (std::size_t k = 0; k < a.clips[i].annotations.size(); ++k) {
      EXPECT_EQ(b.clips[i].annotations[k].start, a.clips[i].annotations[k].start);
      EXPECT_EQ(b.clips[i].annotations[k].end, a.clips[i].annotations[k].end);
      EXPECT_EQ(b.clips[i].annotations[k].label, a.clips[i].annotations[k].label);
      EXPECT_EQ(b.clips[i].annotations[k].label_id, a.clips[i].annotations[k].label_id);
    }
  }
  // The layout: one clip per line, keys in the reference converter's order.
  const std::string text = read_file(dir + "out.json");
  EXPECT_EQ(text.substr(0, 2), "{\n");
  EXPECT_HAS(text, "\n\"c1\": {\"video_id\":\"v1\",\"clip_id\":\"c1\",\"duration\":100.0,"
                   "\"parent_start_sec\":20.0,\"parent_end_sec\":120.0,\"v_duration\":300.5,"
                   "\"fps\":1.875,\"annotations\":[{\"segment\":[1.5,4.0],\"label\":\"use_phone\","
                   "\"label_id\":16},");
  EXPECT_HAS(text, "],\"subset\":\"train\"},\n\"c2\": ");
}

TEST(ClipAnnotations, WriteIntoAMissingFolderFailsAndLeavesNothing) {
  const std::string dir = temp_dir();
  ClipAnnotations a;
  a.clips.push_back(Clip{"c1", "v1", "test", 10, 0, 10, 10, 1.875, {}, ""});
  const std::string target = dir + "no/such/folder/out.json";
  EXPECT_HAS(error_of([&] { write_clip_annotations(a, target); }), target);
  EXPECT_FALSE(path_exists(dir + "no"));
}

TEST(ClipAnnotations, WritingAClipTwiceIsAnError) {
  const std::string dir = temp_dir();
  ClipAnnotations a;
  a.clips.push_back(Clip{"c1", "v1", "test", 10, 0, 10, 10, 1.875, {}, ""});
  a.clips.push_back(a.clips[0]);
  EXPECT_HAS(error_of([&] { write_clip_annotations(a, dir + "out.json"); }),
             "clip c1 would be written twice");
  EXPECT_FALSE(path_exists(dir + "out.json"));
}

// --- de-duplication --------------------------------------------------------------------------

TEST(RemoveDuplicateAnnotations, HandWorked) {
  const std::vector<Segment> in = {
      {1.0, 2.0, "a", 0},
      {1.0005, 1.9995, "a", 0},  // within 1e-3 of the first, same id: dropped
      {1.0, 2.0, "b", 1},        // other label: kept
      {1.002, 2.0, "a", 0},      // start 2e-3 away: kept
      {1.0021, 2.0004, "a", 0},  // duplicate of the previous kept one: dropped
      {5.0, 6.0, "a", 0},
      {1.0, 2.0, "b", 1},        // exact duplicate: dropped
  };
  const std::vector<Segment> out = remove_duplicate_annotations(in);
  ASSERT_EQ(out.size(), 4u);
  EXPECT_EQ(out[0].start, 1.0);
  EXPECT_EQ(out[1].label_id, 1);
  EXPECT_EQ(out[2].start, 1.002);
  EXPECT_EQ(out[3].start, 5.0);
  EXPECT_TRUE(remove_duplicate_annotations({}).empty());
}

// --- the real Ego4D MQ v1 file ---------------------------------------------------------------

TEST(RealClipAnnotations, CountsLabelsAndDuplicates) {
  const ClipAnnotations a = read_clip_annotations(kRealClips);
  ASSERT_EQ(a.clips.size(), 2495u);
  EXPECT_EQ(a.select({"train"}).size(), 1486u);
  EXPECT_EQ(a.select({"val"}).size(), 521u);
  EXPECT_EQ(a.select({"test"}).size(), 488u);
  // The file's label ids are the built-in map's order.
  const auto dict = a.label_dict();
  ASSERT_EQ(dict.size(), 110u);
  const auto& names = ego4d_mq_labels();
  for (std::size_t i = 0; i < names.size(); ++i) EXPECT_EQ(dict.at(names[i]), int64_t(i));

  // Instance counts before and after the reference's de-duplication (computed with
  // ego4d_asl's libs/utils/metrics.py on this file).
  std::map<std::string, std::size_t> all, unique;
  for (const Clip& c : a.clips) {
    all[c.subset] += c.annotations.size();
    unique[c.subset] += remove_duplicate_annotations(c.annotations).size();
  }
  EXPECT_EQ(all["train"], 13559u);
  EXPECT_EQ(all["val"], 4296u);
  EXPECT_EQ(unique["train"], 13545u);
  EXPECT_EQ(unique["val"], 4289u);

  EXPECT_EQ(summarize(a),
            "2495 clips (train 1486, val 521, test 488)\n"
            "17855 instances (train 13559, val 4296, test 0)\n"
            "110 classes\n"
            "clip duration: min 182.0 s, mean 472.0 s, max 480.0 s\n");
}

TEST(RealClipAnnotations, WriteReadRoundTripIsExact) {
  const ClipAnnotations a = read_clip_annotations(kRealClips);
  const std::string out = temp_dir() + "clips.json";
  write_clip_annotations(a, out);
  const ClipAnnotations b = read_clip_annotations(out);
  ASSERT_EQ(a.clips.size(), b.clips.size());
  for (std::size_t i = 0; i < a.clips.size(); ++i) {
    const Clip& x = a.clips[i];
    const Clip& y = b.clips[i];
    ASSERT_EQ(x.clip_id, y.clip_id);
    EXPECT_EQ(x.video_id, y.video_id);
    EXPECT_EQ(x.subset, y.subset);
    EXPECT_EQ(x.duration, y.duration);
    EXPECT_EQ(x.parent_start_sec, y.parent_start_sec);
    EXPECT_EQ(x.parent_end_sec, y.parent_end_sec);
    EXPECT_EQ(x.v_duration, y.v_duration);
    EXPECT_EQ(x.fps, y.fps);
    ASSERT_EQ(x.annotations.size(), y.annotations.size());
    for (std::size_t k = 0; k < x.annotations.size(); ++k) {
      EXPECT_EQ(x.annotations[k].start, y.annotations[k].start);
      EXPECT_EQ(x.annotations[k].end, y.annotations[k].end);
      EXPECT_EQ(x.annotations[k].label, y.annotations[k].label);
      EXPECT_EQ(x.annotations[k].label_id, y.annotations[k].label_id);
    }
  }
}

TEST(SummarizeClips, HandWorked) {
  ClipAnnotations a;
  a.clips.push_back(Clip{"c1", "v", "val", 10, 0, 10, 10, 1.875, {{1, 2, "x", 0}, {3, 4, "y", 1}}, ""});
  a.clips.push_back(Clip{"c2", "v", "train", 30, 0, 30, 30, 1.875, {{1, 2, "x", 0}}, ""});
  a.clips.push_back(Clip{"c3", "v", "val", 20, 0, 20, 20, 1.875, {{1, 2, "x", 0}}, ""});
  EXPECT_EQ(summarize(a),
            "3 clips (val 2, train 1)\n"
            "4 instances (val 3, train 1)\n"
            "2 classes\n"
            "clip duration: min 10.0 s, mean 20.0 s, max 30.0 s\n");
  EXPECT_EQ(summarize(ClipAnnotations{}), "0 clips\n0 instances\n0 classes\n");
}

}  // namespace
}  // namespace asl::data
