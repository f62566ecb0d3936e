// Natural Language Queries: the official NLQ layout -> the query list (asl convert --nlq), the
// query list's reader and writer, and the queries as clips.
#include <gtest/gtest.h>

#include "common/test_util.h"

#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "../cli/run.h"
#include "core/error.h"
#include "core/fs.h"
#include "data/annotations.h"
#include "data/nlq.h"

namespace asl::data {
namespace {

using asl::testing::error_of;

using Json = nlohmann::ordered_json;

const std::string kSample = std::string(ASL_SOURCE_DIR) + "/tests/data/ego4d/nlq_official/";
const std::string kTrain = kSample + "nlq_train.json";
const std::string kVal = kSample + "nlq_val.json";
const std::string kTest = kSample + "nlq_test_unannotated.json";

// Ids of the sample (tests/data/ego4d/README.md).
const std::string kClipA1 = "aa000001-0000-4000-8000-00000000a001";
const std::string kAnnA1a = "a1000000-0000-4000-8000-000000000001";
const std::string kAnnA1b = "a1000000-0000-4000-8000-000000000002";
const std::string kClipA2 = "aa000001-0000-4000-8000-00000000a002";
const std::string kAnnA2 = "a2000000-0000-4000-8000-000000000001";
const std::string kClipC1 = "cc000003-0000-4000-8000-00000000c001";
const std::string kAnnC1a = "c1000000-0000-4000-8000-000000000001";
const std::string kClipD1 = "dd000004-0000-4000-8000-00000000d001";
const std::string kAnnD1 = "d1000000-0000-4000-8000-000000000001";

std::string temp_dir() {
  const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
  const std::string dir =
      ::testing::TempDir() + "asl_nlq_" + info->test_suite_name() + "_" + info->name() + "/";
  std::filesystem::remove_all(dir);
  make_dirs(dir);
  return dir;
}

void write_text(const std::string& path, const std::string& text) {
  std::ofstream(path, std::ios::binary) << text;
}

NlqConvertOptions sample_options() {
  NlqConvertOptions o;
  o.files = {kTrain, kVal, kTest};
  return o;
}

// --- the committed sample --------------------------------------------------------------------

TEST(NlqConvert, SampleCountsKeysAndDrops) {
  const NlqConvertReport r = convert_nlq(sample_options());
  // 30 language queries: 5 without text (null, "", missing key; one each in val and test),
  // 3 train/val windows empty, under a frame or reversed.
  EXPECT_EQ(r.dropped_no_text, 5);
  EXPECT_EQ(r.dropped_empty_window, 3);
  const auto& qs = r.queries.queries;
  ASSERT_EQ(qs.size(), 22u);
  std::map<std::string, int> per_subset;
  for (const NlqQuery& q : qs) ++per_subset[q.subset];
  EXPECT_EQ(per_subset["train"], 9);
  EXPECT_EQ(per_subset["val"], 6);
  EXPECT_EQ(per_subset["test"], 7);

  // The official query_idx survives the drops: annotation A1a keeps its queries 0 and 2.
  std::vector<std::string> keys;
  for (const NlqQuery& q : qs) keys.push_back(q.key());
  const std::vector<std::string> first = {
      kClipA1 + "_" + kAnnA1a + "_0", kClipA1 + "_" + kAnnA1a + "_2",
      kClipA1 + "_" + kAnnA1b + "_0", kClipA1 + "_" + kAnnA1b + "_1",
      kClipA2 + "_" + kAnnA2 + "_0",  kClipA2 + "_" + kAnnA2 + "_2"};
  ASSERT_GE(keys.size(), first.size());
  EXPECT_EQ(std::vector<std::string>(keys.begin(), keys.begin() + 6), first);
  EXPECT_EQ(std::set<std::string>(keys.begin(), keys.end()).size(), keys.size());
  // Dropped ones are not there: the null text, the empty text, the empty and reversed windows.
  for (const char* gone : {"_1", "_3", "_4"}) {
    EXPECT_EQ(r.queries.find(kClipA1 + "_" + kAnnA1a + gone), nullptr) << gone;
  }
  EXPECT_EQ(r.queries.find(kClipA1 + "_" + kAnnA1b + "_2"), nullptr);
  EXPECT_EQ(r.queries.find(kClipC1 + "_" + kAnnC1a + "_2"), nullptr);  // 0.02 s
  EXPECT_EQ(r.queries.find(kClipD1 + "_" + kAnnD1 + "_2"), nullptr);   // test, null text

  const NlqQuery& q = qs[0];
  EXPECT_EQ(q.clip_uid, kClipA1);
  EXPECT_EQ(q.annotation_uid, kAnnA1a);
  EXPECT_EQ(q.query_idx, 0);
  EXPECT_EQ(q.video_uid, "0a000000-0000-4000-8000-0000000000aa");
  EXPECT_EQ(q.subset, "train");
  EXPECT_EQ(q.duration, 480.0);
  EXPECT_EQ(q.fps, 1.875);
  EXPECT_EQ(q.query, "Where did I put the scissors?");
  EXPECT_EQ(q.template_name, "Place: Where did I put X?");
  EXPECT_EQ(q.slot_x, "scissors");
  EXPECT_EQ(q.verb_x, "put");
  EXPECT_TRUE(q.has_window);
  EXPECT_EQ(q.start, 12.5);
  EXPECT_EQ(q.end, 17.0);

  // A window 0.2 s past the clip end is within the tolerance and kept as it is.
  const NlqQuery* ladder = r.queries.find(kClipA1 + "_" + kAnnA1b + "_1");
  ASSERT_NE(ladder, nullptr);
  EXPECT_EQ(ladder->end, 480.2);
  // Null slot_x / verb_x read as empty; the clip's duration is clip_end_sec - clip_start_sec.
  const NlqQuery* knife = r.queries.find(kClipA2 + "_" + kAnnA2 + "_2");
  ASSERT_NE(knife, nullptr);
  EXPECT_EQ(knife->slot_x, "");
  EXPECT_EQ(knife->verb_x, "");
  EXPECT_EQ(knife->duration, 300.5);
  // Test queries: text, no window.
  for (const NlqQuery* t : r.queries.select({"TEST"})) {
    EXPECT_FALSE(t->has_window) << t->key();
    EXPECT_FALSE(t->query.empty());
  }
  EXPECT_EQ(r.queries.select({"train", "val"}).size(), 15u);

  EXPECT_EQ(describe(r),
            "22 queries (train 9, val 6, test 7)\n"
            "8 clips (train 3, val 2, test 3) from 5 videos\n"
            "answer window: min 1.5 s, mean 11.1 s, max 40.0 s\n"
            "dropped 5 queries without text, 3 train/val queries with an empty or reversed "
            "window\n");
}

TEST(NlqConvert, KeepEmptyWindowsKeepsAllButReversed) {
  NlqConvertOptions o = sample_options();
  o.keep_empty_windows = true;
  o.feature_fps = 0.9375;
  const NlqConvertReport r = convert_nlq(o);
  EXPECT_EQ(r.dropped_no_text, 5);
  EXPECT_EQ(r.dropped_empty_window, 1);  // end 50 before start 55
  ASSERT_EQ(r.queries.queries.size(), 24u);
  const NlqQuery* empty = r.queries.find(kClipA1 + "_" + kAnnA1a + "_4");
  ASSERT_NE(empty, nullptr);
  EXPECT_TRUE(empty->has_window);
  EXPECT_EQ(empty->start, 200.0);
  EXPECT_EQ(empty->end, 200.0);
  EXPECT_NE(r.queries.find(kClipC1 + "_" + kAnnC1a + "_2"), nullptr);
  for (const NlqQuery& q : r.queries.queries) EXPECT_EQ(q.fps, 0.9375);
}

TEST(NlqConvert, SubsetFromTheNameOrGiven) {
  const std::string dir = temp_dir();
  std::filesystem::copy_file(kVal, dir + "queries.json");
  NlqConvertOptions o;
  o.files = {dir + "queries.json"};
  const std::string m = error_of([&] { convert_nlq(o); });
  EXPECT_HAS(m, dir + "queries.json: the file name says neither train, val nor test");
  EXPECT_HAS(m, "SUBSET=PATH");
  std::filesystem::copy_file(kVal, dir + "train_val.json");
  o.files = {dir + "train_val.json"};
  EXPECT_HAS(error_of([&] { convert_nlq(o); }), "the file name says both train and val");

  o.files = {"train=" + dir + "queries.json"};
  const NlqConvertReport r = convert_nlq(o);
  ASSERT_EQ(r.queries.queries.size(), 6u);
  for (const NlqQuery& q : r.queries.queries) EXPECT_EQ(q.subset, "train");
  // As test, the same file gives every query with text and no windows (none dropped as empty).
  o.files = {"test=" + dir + "queries.json"};
  const NlqConvertReport t = convert_nlq(o);
  EXPECT_EQ(t.queries.queries.size(), 7u);
  EXPECT_EQ(t.dropped_empty_window, 0);
  for (const NlqQuery& q : t.queries.queries) EXPECT_FALSE(q.has_window);
}

TEST(NlqConvert, VideoTimesGiveTheDurationWhenTheClipHasNoClipTimes) {
  const std::string dir = temp_dir();
  Json j = Json::parse(read_file(kVal));
  for (auto& clip : j["videos"][0]["clips"]) {
    clip.erase("clip_start_sec");
    clip.erase("clip_end_sec");
  }
  write_text(dir + "nlq_val.json", j.dump());
  NlqConvertOptions o;
  o.files = {dir + "nlq_val.json"};
  const NlqConvertReport r = convert_nlq(o);
  ASSERT_FALSE(r.queries.queries.empty());
  EXPECT_EQ(r.queries.queries.back().duration, 420.0);  // video_end_sec - video_start_sec
}

TEST(NlqConvert, BlankTextIsDropped) {
  const std::string dir = temp_dir();
  Json j = Json::parse(read_file(kVal));
  j["videos"][0]["clips"][0]["annotations"][0]["language_queries"][0]["query"] = " \t ";
  write_text(dir + "nlq_val.json", j.dump());
  NlqConvertOptions o;
  o.files = {dir + "nlq_val.json"};
  const NlqConvertReport r = convert_nlq(o);
  EXPECT_EQ(r.dropped_no_text, 2);
  EXPECT_EQ(r.queries.queries.size(), 5u);
  EXPECT_EQ(r.queries.queries.front().query_idx, 1);
}

// --- the query list --------------------------------------------------------------------------

TEST(NlqQueryList, RoundTrip) {
  const std::string dir = temp_dir();
  const NlqConvertReport r = convert_nlq_to_file(sample_options(), dir + "queries.json");
  EXPECT_TRUE(is_nlq_query_file(dir + "queries.json"));
  const NlqQueries back = read_nlq_queries(dir + "queries.json");
  ASSERT_EQ(back.queries.size(), r.queries.queries.size());
  for (std::size_t i = 0; i < back.queries.size(); ++i) {
    const NlqQuery& a = r.queries.queries[i];
    const NlqQuery& b = back.queries[i];
    SCOPED_TRACE(a.key());
    EXPECT_EQ(b.key(), a.key());
    EXPECT_EQ(b.clip_uid, a.clip_uid);
    EXPECT_EQ(b.annotation_uid, a.annotation_uid);
    EXPECT_EQ(b.query_idx, a.query_idx);
    EXPECT_EQ(b.video_uid, a.video_uid);
    EXPECT_EQ(b.subset, a.subset);
    EXPECT_EQ(b.duration, a.duration);
    EXPECT_EQ(b.fps, a.fps);
    EXPECT_EQ(b.query, a.query);
    EXPECT_EQ(b.template_name, a.template_name);
    EXPECT_EQ(b.slot_x, a.slot_x);
    EXPECT_EQ(b.verb_x, a.verb_x);
    EXPECT_EQ(b.has_window, a.has_window);
    EXPECT_EQ(b.start, a.start);
    EXPECT_EQ(b.end, a.end);
  }
  // Written again, the same bytes.
  write_nlq_queries(back, dir + "again.json");
  EXPECT_EQ(read_file(dir + "again.json"), read_file(dir + "queries.json"));
  // The layout: task, version, one query per line, the window only when there is one.
  const Json j = Json::parse(read_file(dir + "queries.json"));
  EXPECT_EQ(j["task"], "nlq");
  EXPECT_EQ(j["version"], 1);
  EXPECT_EQ(j["queries"][0]["window"], Json::array({12.5, 17.0}));
  EXPECT_EQ(j["queries"][0]["key"], kClipA1 + "_" + kAnnA1a + "_0");
  EXPECT_FALSE(j["queries"].back().contains("window"));
}

TEST(NlqQueryList, IsNlqQueryFile) {
  const std::string dir = temp_dir();
  EXPECT_FALSE(
      is_nlq_query_file(std::string(ASL_SOURCE_DIR) + "/tests/data/ego4d/clip_annotations.json"));
  EXPECT_FALSE(is_nlq_query_file(dir + "absent.json"));
  write_text(dir + "a.json", R"({"version": 1, "task": "nlq", "queries": []})");
  EXPECT_TRUE(is_nlq_query_file(dir + "a.json"));
  EXPECT_EQ(read_nlq_queries(dir + "a.json").queries.size(), 0u);
  write_text(dir + "b.json", R"({"task": "mq"})");
  EXPECT_FALSE(is_nlq_query_file(dir + "b.json"));
  write_text(dir + "c.json", R"({"task": )");
  EXPECT_FALSE(is_nlq_query_file(dir + "c.json"));
  write_text(dir + "d.json", R"([{"task": "nlq"}])");
  EXPECT_FALSE(is_nlq_query_file(dir + "d.json"));
}

// A valid one-query list with `field` of the entry replaced by `value` (erased when null and
// `erase`).
std::string list_with(const std::string& field, const Json& value, bool erase = false) {
  Json entry = {
      {"clip_uid", "C"}, {"annotation_uid", "A"}, {"query_idx", 2}, {"video_uid", "V"},
      {"subset", "val"}, {"duration", 480.0},     {"fps", 1.875},   {"query", "where is it?"},
      {"template", "T"}, {"slot_x", "it"},        {"verb_x", ""},   {"window", {10.0, 12.5}}};
  if (erase) {
    entry.erase(field);
  } else if (!field.empty()) {
    entry[field] = value;
  }
  Json root = {{"task", "nlq"}, {"version", 1}, {"queries", Json::array({entry})}};
  return root.dump();
}

std::string read_error(const std::string& text) {
  const std::string path = temp_dir() + "queries.json";
  write_text(path, text);
  const std::string m = error_of([&] { read_nlq_queries(path); });
  EXPECT_EQ(m.find('\n'), std::string::npos) << m;
  EXPECT_HAS(m, path);
  return m;
}

TEST(NlqQueryList, TheValidEntryReads) {
  const std::string path = temp_dir() + "queries.json";
  write_text(path, list_with("", nullptr));
  const NlqQueries q = read_nlq_queries(path);
  ASSERT_EQ(q.queries.size(), 1u);
  EXPECT_EQ(q.queries[0].key(), "C_A_2");
  EXPECT_EQ(q.queries[0].start, 10.0);
  EXPECT_EQ(q.queries[0].end, 12.5);
}

TEST(NlqQueryList, Refusals) {
  EXPECT_HAS(read_error("{\"task\": \"nlq\", "), "malformed JSON");
  EXPECT_HAS(read_error("[]"), "the top level must be an object");
  EXPECT_HAS(read_error(R"({"version": 1, "queries": []})"),
             "task: missing: this is not an NLQ query list");
  EXPECT_HAS(read_error(R"({"task": "mq", "version": 1, "queries": []})"),
             "task: is \"mq\", not \"nlq\"");
  EXPECT_HAS(read_error(R"({"task": "nlq", "version": 2, "queries": []})"),
             "version: version 2 is not known");
  EXPECT_HAS(read_error(R"({"task": "nlq", "version": 1, "queries": {}})"),
             "queries: expected an array, found an object");
  EXPECT_HAS(read_error(list_with("clip_uid", 5)),
             "queries[0].clip_uid: expected a string, found a number");
  EXPECT_HAS(read_error(list_with("annotation_uid", nullptr, true)),
             "queries[0].annotation_uid: missing");
  EXPECT_HAS(read_error(list_with("query_idx", 1.5)),
             "queries[0].query_idx: expected an integer, found 1.5");
  EXPECT_HAS(read_error(list_with("query_idx", -1)), "queries[0].query_idx: must be 0 or more");
  EXPECT_HAS(read_error(list_with("key", "C_A_3")), "query C_A_2: key: 'C_A_3' is not");
  EXPECT_HAS(read_error(list_with("video_uid", nullptr, true)), "query C_A_2: video_uid: missing");
  EXPECT_HAS(read_error(list_with("subset", "")), "query C_A_2: subset: is empty");
  EXPECT_HAS(read_error(list_with("duration", 0)),
             "query C_A_2: duration: must be positive, found 0");
  EXPECT_HAS(read_error(list_with("fps", "fast")),
             "query C_A_2: fps: expected a number, found a string");
  EXPECT_HAS(read_error(list_with("query", "")), "query C_A_2: query: is empty");
  EXPECT_HAS(read_error(list_with("template", 3)), "query C_A_2: template: expected a string");
  EXPECT_HAS(read_error(list_with("window", Json::array({1.0}))),
             "query C_A_2: window: expected [start, end], found 1 values");
  EXPECT_HAS(read_error(list_with("window", Json::array({1.0, "x"}))),
             "query C_A_2: window[1]: expected a number, found a string");
  EXPECT_HAS(read_error(list_with("window", Json::array({12.0, 11.0}))),
             "query C_A_2: window: end 11 is before start 12");
  EXPECT_HAS(read_error(list_with("window", Json::array({400.0, 500.0}))),
             "query C_A_2: window: segment [400, 500] lies outside the clip [0, 480]");
  EXPECT_HAS(read_error(list_with("window", nullptr, true)),
             "query C_A_2: window: a val query has no window");
  // A test query may come without its window.
  const std::string path = temp_dir() + "test.json";
  Json j = Json::parse(list_with("subset", "test"));
  j["queries"][0].erase("window");
  write_text(path, j.dump());
  EXPECT_FALSE(read_nlq_queries(path).queries[0].has_window);
  // The same key twice.
  j = Json::parse(list_with("", nullptr));
  j["queries"].push_back(j["queries"][0]);
  EXPECT_HAS(read_error(j.dump()), "query C_A_2: listed twice (queries[0] and queries[1])");
}

TEST(NlqQueryList, WriterRefusesARepeatedKey) {
  NlqQueries q;
  q.queries.resize(2);
  for (NlqQuery& x : q.queries) {
    x.clip_uid = "C";
    x.annotation_uid = "A";
  }
  const std::string path = temp_dir() + "queries.json";
  EXPECT_HAS(error_of([&] { write_nlq_queries(q, path); }), "query C_A_0 would be written twice");
  EXPECT_FALSE(path_exists(path));
}

// --- the queries as clips ----------------------------------------------------------------------

TEST(NlqAsClips, OneClipPerQueryOverItsClipsFeatures) {
  const NlqConvertReport r = convert_nlq(sample_options());
  const ClipAnnotations clips = nlq_as_clips(r.queries);
  ASSERT_EQ(clips.clips.size(), r.queries.queries.size());
  for (std::size_t i = 0; i < clips.clips.size(); ++i) {
    const NlqQuery& q = r.queries.queries[i];
    const Clip& c = clips.clips[i];
    SCOPED_TRACE(q.key());
    EXPECT_EQ(c.clip_id, q.key());
    EXPECT_EQ(c.feature_id, q.clip_uid);
    EXPECT_EQ(c.feature_key(), q.clip_uid);
    EXPECT_EQ(c.video_id, q.video_uid);
    EXPECT_EQ(c.subset, q.subset);
    EXPECT_EQ(c.duration, q.duration);
    EXPECT_EQ(c.fps, q.fps);
    if (q.has_window) {
      ASSERT_EQ(c.annotations.size(), 1u);
      EXPECT_EQ(c.annotations[0].start, q.start);
      EXPECT_EQ(c.annotations[0].end, q.end);
      EXPECT_EQ(c.annotations[0].label, "answer");
      EXPECT_EQ(c.annotations[0].label_id, 0);
    } else {
      EXPECT_TRUE(c.annotations.empty());
    }
  }
  EXPECT_EQ(clips.label_dict(), (std::map<std::string, int64_t>{{"answer", 0}}));
  // They pass the clip layout's own checks.
  const std::string path = temp_dir() + "clips.json";
  write_clip_annotations(clips, path);
  EXPECT_EQ(read_clip_annotations(path).clips.size(), clips.clips.size());
}

// --- bad official files: one line naming file, clip / annotation / query and key --------------

struct Bad {
  std::string dir;
  NlqConvertOptions options;
};

// The train sample with `edit` applied to its JSON, written as <dir>/nlq_train.json.
template <class Edit>
Bad bad_train(Edit edit) {
  Bad b{temp_dir(), {}};
  Json j = Json::parse(read_file(kTrain));
  edit(j);
  write_text(b.dir + "nlq_train.json", j.dump());
  b.options.files = {b.dir + "nlq_train.json"};
  return b;
}

Json& first_query(Json& j) {
  return j["videos"][0]["clips"][0]["annotations"][0]["language_queries"][0];
}

// Converts to <dir>/queries.json, expects an error and nothing written.
std::string convert_error(const Bad& b) {
  const std::string m = error_of([&] { convert_nlq_to_file(b.options, b.dir + "queries.json"); });
  EXPECT_FALSE(path_exists(b.dir + "queries.json"));
  EXPECT_EQ(m.find('\n'), std::string::npos) << m;
  return m;
}

TEST(NlqConvertErrors, Refusals) {
  const std::string at_query =
      "nlq_train.json: clip " + kClipA1 + ", annotation " + kAnnA1a + ": language_queries[0]";
  EXPECT_HAS(convert_error(bad_train([](Json& j) { first_query(j).erase("clip_end_sec"); })),
             at_query + ".clip_end_sec: missing");
  EXPECT_HAS(convert_error(bad_train([](Json& j) { first_query(j)["clip_start_sec"] = "12"; })),
             at_query + ".clip_start_sec: expected a number, found a string");
  EXPECT_HAS(convert_error(bad_train([](Json& j) { first_query(j)["query"] = 7; })),
             at_query + ".query: expected a string, found a number");
  EXPECT_HAS(convert_error(bad_train([](Json& j) { first_query(j)["slot_x"] = 1; })),
             at_query + ".slot_x: expected a string, found a number");
  EXPECT_HAS(convert_error(bad_train([](Json& j) { first_query(j)["clip_end_sec"] = 600.0; })),
             at_query + ": segment [12.5, 600] lies outside the clip [0, 480]");
  EXPECT_HAS(
      convert_error(bad_train([](Json& j) { j["videos"][0]["clips"][0]["clip_end_sec"] = 0.0; })),
      "nlq_train.json: clip " + kClipA1 + ": clip_end_sec: 0 is not after clip_start_sec 0");
  EXPECT_HAS(convert_error(bad_train([](Json& j) {
               j["videos"][0]["clips"][0]["annotations"][0].erase("annotation_uid");
             })),
             "nlq_train.json: clip " + kClipA1 + ": annotations[0].annotation_uid: missing");
  EXPECT_HAS(convert_error(bad_train([](Json& j) {
               j["videos"][0]["clips"][0]["annotations"][0]["language_queries"] = nullptr;
             })),
             "clip " + kClipA1 + ", annotation " + kAnnA1a +
                 ": language_queries: expected an array, found null");
  EXPECT_HAS(convert_error(bad_train([](Json& j) { j["videos"][1].erase("video_uid"); })),
             "nlq_train.json: videos[1].video_uid: missing");
  EXPECT_HAS(convert_error(bad_train([](Json& j) { j.erase("videos"); })),
             "nlq_train.json: videos: missing");
  // An annotation listed twice gives each of its queries twice.
  EXPECT_HAS(convert_error(bad_train([](Json& j) {
               auto& anns = j["videos"][0]["clips"][0]["annotations"];
               anns.push_back(anns[0]);
             })),
             "clip " + kClipA1 + ", annotation " + kAnnA1a + ": language_queries[0]: query " +
                 kClipA1 + "_" + kAnnA1a + "_0 is listed again (first in ");
  Bad b = bad_train([](Json&) {});
  b.options.files.push_back(b.dir + "nlq_val.json");
  EXPECT_HAS(convert_error(b), b.dir + "nlq_val.json: cannot open");
  std::ofstream(b.dir + "nlq_val.json") << "{\"videos\": [";
  EXPECT_HAS(convert_error(b), b.dir + "nlq_val.json: malformed JSON");
}

TEST(NlqConvertErrors, ExistingOutputIsKeptOnFailure) {
  const Bad b = bad_train([](Json& j) { first_query(j)["clip_end_sec"] = "late"; });
  write_text(b.dir + "queries.json", "old");
  error_of([&] { convert_nlq_to_file(b.options, b.dir + "queries.json"); });
  EXPECT_EQ(read_file(b.dir + "queries.json"), "old");
}

// --- the real binary ---------------------------------------------------------------------------

TEST(NlqConvertCommand, WritesTheQueryListAndPrintsASummary) {
  const std::string dir = temp_dir();
  const auto r = asl::testing::run_asl({"convert", "--nlq", kTrain, kVal, kTest, "--feature-fps",
                                        "0.9375", "--out", dir + "queries.json"});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_HAS(r.out, "22 queries (train 9, val 6, test 7)");
  EXPECT_HAS(r.out, "dropped 5 queries without text, 3 train/val queries");
  EXPECT_HAS(r.out, "wrote " + dir + "queries.json");
  const NlqQueries q = read_nlq_queries(dir + "queries.json");
  ASSERT_EQ(q.queries.size(), 22u);
  EXPECT_EQ(q.queries[0].fps, 0.9375);

  const auto keep = asl::testing::run_asl(
      {"convert", "--nlq", "val=" + kVal, "--keep-empty-windows", "--out", dir + "val.json"});
  ASSERT_EQ(keep.code, 0) << keep.err;
  EXPECT_HAS(keep.out, "7 queries (val 7)");
}

TEST(NlqConvertCommand, BadInputExitsOneAndKeepsTheOutput) {
  const Bad b = bad_train([](Json& j) { first_query(j).erase("clip_start_sec"); });
  write_text(b.dir + "queries.json", "old");
  const auto r = asl::testing::run_asl(
      {"convert", "--nlq", b.options.files[0], "--out", b.dir + "queries.json"});
  EXPECT_EQ(r.code, 1);
  EXPECT_EQ(asl::testing::count_lines(r.err), 1) << r.err;
  EXPECT_HAS(r.err, "error: " + b.dir + "nlq_train.json: clip " + kClipA1 + ", annotation " +
                        kAnnA1a + ": language_queries[0].clip_start_sec: missing");
  EXPECT_TRUE(r.out.empty()) << r.out;
  EXPECT_EQ(read_file(b.dir + "queries.json"), "old");
}

TEST(NlqConvertCommand, MqOptionsDoNotMixWithNlq) {
  const std::string dir = temp_dir();
  auto r =
      asl::testing::run_asl({"convert", "--nlq", kVal, "--moments", kVal, "--out", dir + "x.json"});
  EXPECT_EQ(r.code, 64) << r.err;
  r = asl::testing::run_asl(
      {"convert", "--nlq", kVal, "--label-map", kVal, "--out", dir + "x.json"});
  EXPECT_EQ(r.code, 64) << r.err;
  r = asl::testing::run_asl({"convert", "--out", dir + "x.json"});
  EXPECT_EQ(r.code, 64) << r.err;
  EXPECT_HAS(r.err, "--moments");
  EXPECT_FALSE(path_exists(dir + "x.json"));
}

}  // namespace
}  // namespace asl::data
