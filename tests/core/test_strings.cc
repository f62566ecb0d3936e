#include <gtest/gtest.h>

#include "core/fs.h"
#include "core/strings.h"

namespace asl {
namespace {

TEST(EditDistance, HandWorkedCases) {
  EXPECT_EQ(edit_distance("", ""), 0u);
  EXPECT_EQ(edit_distance("abc", ""), 3u);
  EXPECT_EQ(edit_distance("", "ab"), 2u);
  EXPECT_EQ(edit_distance("kitten", "sitting"), 3u);
  EXPECT_EQ(edit_distance("max_seq_lne", "max_seq_len"), 2u);  // a transposition is 2 edits
  EXPECT_EQ(edit_distance("flaw", "lawn"), 2u);
  EXPECT_EQ(edit_distance("same", "same"), 0u);
}

TEST(Split, KeepsEmptyFields) {
  EXPECT_EQ(split("a.b.c", '.'), (std::vector<std::string>{"a", "b", "c"}));
  EXPECT_EQ(split("a..b", '.'), (std::vector<std::string>{"a", "", "b"}));
  EXPECT_EQ(split("", '.'), (std::vector<std::string>{""}));
}

TEST(Join, Joins) {
  EXPECT_EQ(join({"a", "b"}, ", "), "a, b");
  EXPECT_EQ(join({}, ", "), "");
}

TEST(OneLine, CollapsesNewlinesAndRuns) {
  EXPECT_EQ(one_line("a\nb\t\tc  \n"), "a b c");
}

TEST(WithCommas, GroupsThousands) {
  EXPECT_EQ(with_commas(0), "0");
  EXPECT_EQ(with_commas(999), "999");
  EXPECT_EQ(with_commas(1000), "1,000");
  EXPECT_EQ(with_commas(222065422), "222,065,422");
  EXPECT_EQ(with_commas(-1234567), "-1,234,567");
  EXPECT_EQ(with_commas(-123), "-123");
}

TEST(Paths, JoinAndLastComponent) {
  EXPECT_EQ(join_path("runs/demo", "steps.jsonl"), "runs/demo/steps.jsonl");
  EXPECT_EQ(join_path("runs/demo/", "steps.jsonl"), "runs/demo/steps.jsonl");
  EXPECT_EQ(join_path("", "steps.jsonl"), "steps.jsonl");
  EXPECT_EQ(last_path_component("runs/demo/train/"), "train");
  EXPECT_EQ(last_path_component("configs/demo.yaml"), "demo.yaml");
  EXPECT_EQ(last_path_component("train"), "train");
  EXPECT_EQ(last_path_component("/"), "");
}

}  // namespace
}  // namespace asl
