// The streaming prediction reader (eval/predictions.cc): JSON edge cases, numbers read as
// Python's float() reads them, the DOM reader's semantics (duplicates, error order), bad
// inputs; and the fast path of the ground-truth reader that `asl score` uses.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <string>

#include "common/test_util.h"
#include "core/fs.h"
#include "data/annotations.h"
#include "eval/predictions.h"

namespace asl::eval {
namespace {

using asl::testing::error_of;

std::string err(const std::string& text) {
  return error_of([&] { parse_predictions(text, "p.json"); });
}

// One entry in a results file; the segment and score as written.
std::string one_entry(const std::string& score, const std::string& start, const std::string& end) {
  return R"({"results": {"c1": [{"label": "x", "score": )" + score + R"(, "segment": [)" + start +
         ", " + end + "]}]}}";
}

const Prediction& first(const PredictionFile& f) { return f.detection->at(0).predictions.at(0); }

bool same_bits(double a, double b) { return std::memcmp(&a, &b, sizeof a) == 0; }

TEST(PredictionNumbers, AreTheCorrectlyRoundedDoubles) {
  // Each text against the double the compiler reads from the same literal.
  const std::pair<const char*, double> cases[] = {
      {"0.1", 0.1},
      {"1e-3", 1e-3},
      {"1E2", 1E2},
      {"2.5e+1", 2.5e+1},
      {"0.30000000000000004", 0.30000000000000004},
      {"201.13101716953457", 201.13101716953457},
      {"2.2250738585072011e-308", 2.2250738585072011e-308},  // just below the normal range
      {"4.9406564584124654e-324", 4.9406564584124654e-324},  // the smallest subnormal
      {"1.7976931348623157e308", 1.7976931348623157e308},
      {"9007199254740993", 9007199254740993.0},  // 2^53 + 1: ties to even
      {"12345678901234567890", 12345678901234567890.0},  // above INT64_MAX
      {"-123456789012345678901234567890", -123456789012345678901234567890.0},
      {"1e-400", 0.0},  // underflow reads as 0, as in Python
      {"7", 7.0},
      {"-0.0", -0.0},
  };
  for (const auto& [text, want] : cases) {
    const auto f = parse_predictions(one_entry(text, text, text), "p.json");
    EXPECT_TRUE(same_bits(first(f).score, want)) << text << " read as " << first(f).score;
    EXPECT_TRUE(same_bits(first(f).start, want)) << text;
    EXPECT_TRUE(same_bits(first(f).end, want)) << text;
  }
  // -0.0 keeps its sign; the integer -0 is the integer 0 (Python's int, nlohmann's int64).
  EXPECT_TRUE(std::signbit(first(parse_predictions(one_entry("-0.0", "0", "1"), "p")).score));
  EXPECT_FALSE(std::signbit(first(parse_predictions(one_entry("-0", "0", "1"), "p")).score));
}

TEST(PredictionNumbers, NonJsonNumbersAreMalformed) {
  for (const char* bad : {"01", "1.", ".5", "+1", "1e", "1e+", "-", "0x10", "1.5.2", "--1"}) {
    EXPECT_HAS(err(one_entry(bad, "0", "1")), "p.json: malformed JSON") << bad;
  }
  EXPECT_HAS(err(one_entry("1e400", "0", "1")), "number 1e400 is too large for a double");
  EXPECT_HAS(err(one_entry("-1e400", "0", "1")), "too large for a double");
  EXPECT_HAS(err(one_entry("NaN", "0", "1")), "NaN and Infinity are not JSON numbers");
  EXPECT_HAS(err(one_entry("0.5", "-Infinity", "1")), "NaN and Infinity are not JSON numbers");
  EXPECT_HAS(err(one_entry("None", "0", "1")), "malformed JSON: line 1, column 45: unexpected 'N'; expected a value");
}

TEST(PredictionStrings, UnicodeEscapesAndRawUtf8InLabelsAndClipIds) {
  const auto f = parse_predictions(
      "{\"results\": {\"caf\\u00e9-\xC3\xA9\": [{\"label\": \"\\ud83d\\ude00 \\\"q\\\" \\\\ \\/ "
      "\\t\xE2\x82\xAC\", \"score\": 1, \"segment\": [0, 1]}]}}",
      "p.json");
  EXPECT_EQ(f.detection->at(0).clip_id, "caf\xC3\xA9-\xC3\xA9");
  EXPECT_EQ(first(f).label, "\xF0\x9F\x98\x80 \"q\" \\ / \t\xE2\x82\xAC");
  // Escaped key names are the same keys.
  const auto g = parse_predictions(
      R"({"\u0072esults": {"c": [{"\u006cabel": "x", "sc\u006fre": 2, "segment": [0, 1]}]}})", "p");
  EXPECT_EQ(first(g).label, "x");
  EXPECT_EQ(first(g).score, 2);
}

TEST(PredictionStrings, BadEscapesAndBadUtf8AreMalformed) {
  const std::string bad_labels[] = {
      R"("\ud83d")",         // a lone high surrogate
      R"("\ude00")",         // a lone low surrogate
      R"("\ud83d\u0041")",   // a high surrogate without its low half
      R"("\x")",             // no such escape
      R"("\u12g4")",         // not hex
      "\"a\tb\"",            // a raw control character
      "\"\xC3\"",            // a truncated UTF-8 sequence
      "\"\xC0\xAF\"",        // an overlong encoding
      "\"\xED\xA0\x80\"",    // a UTF-16 surrogate encoded in UTF-8
      "\"\xF4\x90\x80\x80\"",  // above U+10FFFF
      "\"\xFF\"",
  };
  for (const auto& label : bad_labels) {
    const std::string text = R"({"results": {"c1": [{"label": )" + label +
                             R"(, "score": 1, "segment": [0, 1]}]}})";
    EXPECT_HAS(err(text), "p.json: malformed JSON") << label;
  }
}

TEST(PredictionSyntax, WhitespaceBomAndUnknownKeys) {
  const auto f = parse_predictions(
      "\xEF\xBB\xBF \r\n\t{ \"version\" : \"1.0\" ,\"external_data\": {\"a\": [1, {\"b\": null}, "
      "true, false, -2.5e-3, \"s\"]},\n\"results\"\t:{ \"c1\" :[ {\"segment\" :[ 1 ,\r\n2 ] , "
      "\"label\":\"x\",\"extra\":[[[]]],\"score\":0.5 } ] , \"c2\":[]}}\n\n",
      "p.json");
  ASSERT_EQ(f.detection->size(), 2u);
  EXPECT_EQ(first(f).label, "x");
  EXPECT_EQ(first(f).score, 0.5);
  EXPECT_EQ(first(f).start, 1);
  EXPECT_EQ(first(f).end, 2);
  EXPECT_TRUE(f.detection->at(1).predictions.empty());
  // Deep nesting in a key that is not read costs no stack.
  const std::string deep = std::string(100000, '[') + std::string(100000, ']');
  EXPECT_NO_THROW(parse_predictions(R"({"external_data": )" + deep + R"(, "results": {}})", "p"));
}

TEST(PredictionSyntax, EveryTruncationIsMalformedJson) {
  const std::string text =
      R"({"version": "1.0", "detect_results": {"c\u00e9": [{"label": "a b", "score": 0.25, )"
      R"("segment": [1.5e1, -2]}, {"label": "x", "score": 1, "segment": [0, 1], "k": null}]}, )"
      R"("retrieve_results": {"c": [], "d": [{"label": "y", "score": true, "segment": [0, 1]}]}})";
  ASSERT_NO_THROW(parse_predictions(text.substr(0, text.find(", \"retrieve")) +
                                        R"(, "retrieve_results": {}})",
                                    "p"));
  for (size_t n = 0; n < text.size(); ++n) {
    EXPECT_HAS(err(text.substr(0, n)), "p.json: malformed JSON") << "first " << n << " bytes";
  }
  EXPECT_HAS(err(text + "x"), "unexpected content after the top-level value");
  EXPECT_HAS(err(text + "{}"), "p.json: malformed JSON");
  // Malformed JSON is reported before any shape problem (score true, above).
  EXPECT_HAS(err(text + " ,"), "p.json: malformed JSON");
  EXPECT_HAS(err(text), "p.json: retrieve_results.d[0]: score is boolean, expected a number");
}

TEST(PredictionSyntax, ErrorsGiveLineAndColumn) {
  EXPECT_HAS(err("{\"results\": {\n  \"c1\": [1,]\n}}"), "p.json: malformed JSON: line 2, column 12");
  EXPECT_HAS(err("{\"results\": {}} ]"), "line 1, column 17");
  EXPECT_HAS(err(""), "p.json: malformed JSON: line 1, column 1: unexpected end of input");
  EXPECT_HAS(err("{\"results\": {}"), "(is this a prediction file?)");
}

TEST(PredictionShape, WrongTypesNameTheClipAndTheEntry) {
  auto entry = [](const std::string& body) {
    return R"({"results": {"ok": [], "clip-7": [{"label": "a", "score": 1, "segment": [0, 1]}, )" +
           body + "]}}";
  };
  EXPECT_HAS(err(entry(R"({"label": null, "score": 1, "segment": [0, 1]})")),
             "p.json: results.clip-7[1]: label is null, expected a string");
  EXPECT_HAS(err(entry(R"({"label": "a", "score": [1], "segment": [0, 1]})")),
             "p.json: results.clip-7[1]: score is array, expected a number");
  EXPECT_HAS(err(entry(R"({"label": "a", "score": 1, "segment": [0, "1"]})")),
             "p.json: results.clip-7[1]: segment[1] is string, expected a number");
  EXPECT_HAS(err(entry(R"({"label": "a", "score": 1, "segment": [{}, 1]})")),
             "results.clip-7[1]: segment[0] is object, expected a number");
  EXPECT_HAS(err(entry(R"({"label": "a", "score": 1, "segment": [0, 1, 2]})")),
             "results.clip-7[1]: segment must be [start, end] in seconds");
  EXPECT_HAS(err(entry(R"({"label": "a", "score": 1, "segment": {"start": 0}})")),
             "results.clip-7[1]: segment must be [start, end] in seconds");
  EXPECT_HAS(err(entry(R"([1, 2])")), "p.json: results.clip-7[1]: is array, expected an object");
  EXPECT_HAS(err(entry(R"("x")")), "results.clip-7[1]: is string, expected an object");
  EXPECT_HAS(err(R"({"results": {"c": null}})"), "p.json: results.c is null, expected a list of predictions");
  EXPECT_HAS(err(R"({"results": true})"), "p.json: results is boolean, expected an object keyed by clip id");
  // The challenge layout does not read "results".
  EXPECT_NO_THROW(parse_predictions(R"({"results": "x", "detect_results": {}, "retrieve_results": {}})", "p"));
  // The first problem in clip order (not file order of the entries) is the one reported.
  EXPECT_HAS(err(R"({"results": {"a": [{"label": "a"}], "b": [7]}})"), "results.a[0]: missing key 'score'");
}

TEST(PredictionShape, DuplicatesKeepTheLastValueAtTheFirstPlace) {
  const auto f = parse_predictions(
      R"({"results": {"a": [{"label": "old"}], "b": [], "a": [{"label": "x", "label": "y",
          "score": "s", "score": 3, "segment": [9], "segment": [1, 2]}]}})",
      "p.json");
  ASSERT_EQ(f.detection->size(), 2u);
  EXPECT_EQ(f.detection->at(0).clip_id, "a");  // the bad first list of "a" is not reported
  EXPECT_EQ(f.detection->at(1).clip_id, "b");
  ASSERT_EQ(f.detection->at(0).predictions.size(), 1u);
  EXPECT_EQ(first(f).label, "y");
  EXPECT_EQ(first(f).score, 3);
  EXPECT_EQ(first(f).start, 1);
  // The last of a repeated top-level key counts; an earlier bad one is not reported.
  const auto g = parse_predictions(R"({"results": 5, "results": {"c": []}})", "p.json");
  EXPECT_EQ(g.detection->at(0).clip_id, "c");
  EXPECT_HAS(err(R"({"results": {"c": []}, "results": 5})"), "results is number");
}

TEST(PredictionLayouts, IdenticalSectionsAreReadOnceAndDetectionErrorsComeFirst) {
  const std::string list = R"({"c1": [{"label": "x", "score": 0.5, "segment": [1, 2]}]})";
  const auto same = parse_predictions(
      R"({"detect_results": )" + list + R"(, "retrieve_results": )" + list + "}", "p.json");
  EXPECT_EQ(same.detection, same.retrieval);
  const auto differ = parse_predictions(R"({"detect_results": )" + list +
                                            R"(, "retrieve_results": {"c1": []}})",
                                        "p.json");
  EXPECT_NE(differ.detection, differ.retrieval);
  EXPECT_EQ(differ.detection->at(0).predictions.size(), 1u);
  EXPECT_TRUE(differ.retrieval->at(0).predictions.empty());
  // An object that starts like an earlier one but goes on is read on its own.
  const auto longer = parse_predictions(
      R"({"detect_results": {"c1": []}, "retrieve_results": {"c1": []  , "c2": []}})", "p");
  EXPECT_EQ(longer.retrieval->size(), 2u);
  // The same bad list under both keys, retrieval first in the file: named as detection.
  const std::string bad = R"({"c1": [{"label": "x", "segment": [1, 2]}]})";
  EXPECT_HAS(err(R"({"retrieve_results": )" + bad + R"(, "detect_results": )" + bad + "}"),
             "p.json: detect_results.c1[0]: missing key 'score'");
  EXPECT_HAS(err(R"({"retrieve_results": )" + bad + R"(, "detect_results": )" + list + "}"),
             "p.json: retrieve_results.c1[0]: missing key 'score'");
}

TEST(PredictionFiles, ReadsAFileAsItsTextAndNamesMissingFiles) {
  const std::string path = ::testing::TempDir() + "pred_reader_" + std::to_string(getpid()) + ".json";
  const std::string text = one_entry("0.25", "1.5", "3");
  std::ofstream(path, std::ios::binary) << text;
  const auto f = read_predictions(path);
  EXPECT_EQ(first(f).score, 0.25);
  EXPECT_EQ(first(f).end, 3);
  std::ofstream(path, std::ios::binary | std::ios::trunc).flush();  // empty file
  EXPECT_HAS(error_of([&] { read_predictions(path); }), path + ": malformed JSON");
  std::remove(path.c_str());
  EXPECT_HAS(error_of([&] { read_predictions(path); }), path + ": cannot open");
}

// The ground truth `asl score` reads goes through a fast path for valid files that must give
// what the checked tree reader gives (tests/data covers its errors, which fall back to it).
TEST(GroundTruthForScoring, FastPathReadsAnyKeyOrderAndSkipsUnknownKeys) {
  const std::string path = ::testing::TempDir() + "gt_reader_" + std::to_string(getpid()) + ".json";
  std::ofstream(path, std::ios::binary) << R"({
    "c1": {"annotations": [{"label_id": 3, "extra": {"x": [1, [2]]}, "segment": [-7.5, 105],
                            "label": "l\u00e9"}],
           "fps": 1.875, "subset": "val", "duration": 100, "parent_start_sec": 0,
           "parent_end_sec": 100, "v_duration": 200, "video_id": "v", "notes": [{}, []]},
    "c2": {"video_id": "v", "clip_id": "c2", "duration": 5.5, "parent_start_sec": 1,
           "parent_end_sec": 6.5, "v_duration": 200, "fps": 2, "subset": "test"}})";
  const auto gt = data::read_clip_annotations(path);
  ASSERT_EQ(gt.clips.size(), 2u);
  EXPECT_EQ(gt.clips[0].clip_id, "c1");
  EXPECT_EQ(gt.clips[0].duration, 100);
  ASSERT_EQ(gt.clips[0].annotations.size(), 1u);
  EXPECT_EQ(gt.clips[0].annotations[0].start, -7.5);  // within the 8 s tolerance
  EXPECT_EQ(gt.clips[0].annotations[0].end, 105);
  EXPECT_EQ(gt.clips[0].annotations[0].label, "l\xC3\xA9");
  EXPECT_EQ(gt.clips[0].annotations[0].label_id, 3);
  EXPECT_EQ(gt.clips[1].subset, "test");
  EXPECT_TRUE(gt.clips[1].annotations.empty());
  EXPECT_EQ(gt.clips[1].fps, 2);

  // A key given twice inside a clip: the last value, as the tree reader has it.
  std::ofstream(path, std::ios::binary | std::ios::trunc) << R"({"c1": {"video_id": "v",
      "duration": 10, "duration": 100, "parent_start_sec": 0, "parent_end_sec": 1,
      "v_duration": 200, "fps": 1, "subset": "val",
      "annotations": [{"segment": [50, 60], "label": "a", "label_id": 0}]}})";
  EXPECT_EQ(data::read_clip_annotations(path).clips.at(0).duration, 100);

  // Checks that need the duration run even when the annotations come first.
  std::ofstream(path, std::ios::binary | std::ios::trunc) << R"({"c1": {
      "annotations": [{"segment": [50, 160], "label": "a", "label_id": 0}], "video_id": "v",
      "duration": 100, "parent_start_sec": 0, "parent_end_sec": 1, "v_duration": 200,
      "fps": 1, "subset": "val"}})";
  EXPECT_HAS(error_of([&] { data::read_clip_annotations(path); }), "lies outside the clip");
  // A label id written as a float is refused as before.
  std::ofstream(path, std::ios::binary | std::ios::trunc) << R"({"c1": {"video_id": "v",
      "duration": 100, "parent_start_sec": 0, "parent_end_sec": 1, "v_duration": 200, "fps": 1,
      "subset": "val", "annotations": [{"segment": [50, 60], "label": "a", "label_id": 1.0}]}})";
  EXPECT_HAS(error_of([&] { data::read_clip_annotations(path); }), "expected an integer");
  std::remove(path.c_str());
}

}  // namespace
}  // namespace asl::eval
