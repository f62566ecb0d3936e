// batched_nms against the reference's own extension (nms_cpu.cpp) and nms.py, run by
// make_nms_fixture.py on random inputs; floats are stored exactly (hex float32).
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <sstream>
#include <string>

#include "infer/nms.h"

namespace asl::infer {
namespace {

struct ReferenceCase {
  std::string name;
  NmsOptions options;
  std::vector<Segment> input;
  std::vector<Segment> expected;
};

Segment read_segment(std::istream& in) {
  std::string start, end, score;
  Segment s;
  in >> start >> end >> score >> s.label;
  s.start = std::strtof(start.c_str(), nullptr);
  s.end = std::strtof(end.c_str(), nullptr);
  s.score = std::strtof(score.c_str(), nullptr);
  return s;
}

std::vector<ReferenceCase> read_cases() {
  std::ifstream in(std::string(ASL_SOURCE_DIR) + "/tests/infer/nms_reference_cases.txt");
  std::vector<ReferenceCase> cases;
  std::string word;
  while (in >> word) {
    EXPECT_EQ(word, "case");
    ReferenceCase c;
    std::string method, iou, sigma, min_score, voting;
    int multiclass = 0;
    std::size_t n_in = 0, n_out = 0;
    in >> c.name >> method >> multiclass >> iou >> sigma >> min_score >> c.options.max_seg_num >>
        voting >> n_in >> n_out;
    c.options.method = method == "soft" ? NmsMethod::kSoft : NmsMethod::kHard;
    c.options.multiclass = multiclass != 0;
    c.options.iou_threshold = std::strtof(iou.c_str(), nullptr);
    c.options.sigma = std::strtof(sigma.c_str(), nullptr);
    c.options.min_score = std::strtof(min_score.c_str(), nullptr);
    c.options.voting_thresh = std::strtof(voting.c_str(), nullptr);
    for (std::size_t i = 0; i < n_in; ++i) c.input.push_back(read_segment(in));
    for (std::size_t i = 0; i < n_out; ++i) c.expected.push_back(read_segment(in));
    cases.push_back(std::move(c));
  }
  return cases;
}

TEST(NmsReference, MatchesTheReferenceExtensionOnRandomCases) {
  const auto cases = read_cases();
  ASSERT_EQ(cases.size(), 18u) << "fixture missing or changed";
  for (const ReferenceCase& c : cases) {
    SCOPED_TRACE("case " + c.name);
    const auto out = batched_nms(c.input, c.options);
    ASSERT_EQ(out.size(), c.expected.size());
    // Voting sums in another order than the reference's float32 matmul: round-off only.
    const bool voted = !c.options.multiclass && c.options.voting_thresh > 0.f;
    for (std::size_t i = 0; i < out.size(); ++i) {
      SCOPED_TRACE("row " + std::to_string(i));
      EXPECT_EQ(out[i].label, c.expected[i].label);
      EXPECT_EQ(out[i].score, c.expected[i].score);  // bit for bit
      if (voted) {
        EXPECT_NEAR(out[i].start, c.expected[i].start, 1e-5 * (1 + std::fabs(c.expected[i].start)));
        EXPECT_NEAR(out[i].end, c.expected[i].end, 1e-5 * (1 + std::fabs(c.expected[i].end)));
      } else {
        EXPECT_EQ(out[i].start, c.expected[i].start);
        EXPECT_EQ(out[i].end, c.expected[i].end);
      }
    }
  }
}

}  // namespace
}  // namespace asl::infer
