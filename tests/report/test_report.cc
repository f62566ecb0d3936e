// `asl report`: the page read back as text: its structure, the numbers it shows, where the
// chart points land (computed by hand), escaping, and the rules for damaged input.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <regex>
#include <string>
#include <vector>

#include "common/test_util.h"
#include "report/report.h"
#include "report/svg_chart.h"

namespace asl::report {
namespace {

namespace fs = std::filesystem;

std::string fresh_dir(const std::string& name) {
  const std::string dir = ::testing::TempDir() + "/asl_report_" + name;
  fs::remove_all(dir);
  fs::create_directories(dir);
  return dir;
}

size_t count(const std::string& text, const std::string& what) {
  size_t n = 0;
  for (size_t at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++n;
  return n;
}

// 100 steps with lr = step * 1e-5 and losses 1/(step+1); 3 validations; a metrics file with
// per-class APs, one class name full of HTML.
std::string write_run(const std::string& name, bool torn_tail = false) {
  const std::string dir = fresh_dir(name);
  std::ofstream steps(dir + "/steps.jsonl");
  for (int s = 0; s < 100; ++s) {
    const double loss = 1.0 / (s + 1);
    steps << "{\"step\": " << s << ", \"epoch\": " << s / 25 << ", \"lr\": " << s * 1e-5
          << ", \"cls_loss\": " << loss << ", \"reg_loss\": " << loss / 2 << ", \"al_loss\": "
          << loss / 4 << ", \"final_loss\": " << (s == 50 ? "null" : std::to_string(1.75 * loss))
          << ", \"samples_per_s\": 20, \"data_wait_s\": 0.001}\n";
  }
  if (torn_tail) steps << "{\"step\": 100, \"epo";
  steps.close();
  std::ofstream val(dir + "/validation.jsonl");
  const double avg[] = {0.2, 0.35, 0.3};
  for (int e = 0; e < 3; ++e) {
    val << "{\"mAP\": {\"0.1\": " << avg[e] + 0.1 << ", \"0.5\": " << avg[e] - 0.1
        << "}, \"average_mAP\": " << avg[e]
        << ", \"recall\": {\"R1@0.5\": 0.25}, \"epoch\": " << e + 2 << ", \"best\": " << (e == 1 ? "true" : "false")
        << "}\n";
  }
  std::ofstream(dir + "/metrics.json")
      << R"({"mAP": {"0.1": 0.5}, "average_mAP": 0.31, "recall": {"R1@0.3": 0.4, "R5@0.7": 0.125},
            "AP_per_class": {"mid": 0.3, "a<b&\"c\"": 0.9, "low": 0.05}})";
  return dir;
}

TEST(Report, ASelfContainedPageWithEveryChart) {
  const std::string page = render(read_run(write_run("full")));
  EXPECT_EQ(page.rfind("<!DOCTYPE html>", 0), 0u);
  EXPECT_EQ(count(page, "<svg"), count(page, "</svg>"));
  EXPECT_EQ(count(page, "<svg"), 6u);  // 4 training charts, validation, per-class bars
  EXPECT_EQ(count(page, "http://") + count(page, "https://") + count(page, "<script") +
                count(page, " src=") + count(page, " href="),
            0u);
  // Polylines: 4 losses + lr + 2 throughput + data wait + (2 tIoUs + average).
  EXPECT_EQ(count(page, "<polyline"), 11u);
  EXPECT_NE(page.find("<td id=\"steps\">100</td>"), std::string::npos);
  EXPECT_NE(page.find("<td id=\"epochs\">4</td>"), std::string::npos);
  EXPECT_NE(page.find("<td id=\"best\">35.00% (epoch 3)</td>"), std::string::npos) << page;
  // The metrics file wins over the last validation.
  EXPECT_NE(page.find("average mAP 31.00%"), std::string::npos);
  EXPECT_NE(page.find("<td>40.00%</td>"), std::string::npos);   // R1@0.3
  EXPECT_NE(page.find("<td>12.50%</td>"), std::string::npos);   // R5@0.7
}

TEST(Report, ClassBarsDescendAndNamesAreEscaped) {
  const std::string page = render(read_run(write_run("classes")));
  std::vector<std::string> order;
  const std::regex bar(R"re(<rect class="bar" data-label="([^"]*)")re");
  for (auto it = std::sregex_iterator(page.begin(), page.end(), bar); it != std::sregex_iterator(); ++it) {
    order.push_back((*it)[1]);
  }
  EXPECT_EQ(order, (std::vector<std::string>{"a&lt;b&amp;&quot;c&quot;", "mid", "low"}));
  EXPECT_EQ(page.find("a<b&\"c\""), std::string::npos);
}

TEST(Report, ChartPointsLandWhereTheAxesSay) {
  const std::string page = render(read_run(write_run("points")));
  // The lr line: x 0..99 on ticks 0..100, y 0..0.00099 on ticks 0..0.001. Plot area
  // 64..544 x 30..208 (a 560 x 260 chart). First point (0, 0) -> (64, 208); last point
  // (99, 0.00099) -> (64 + 0.99 * 480, 208 - 0.99 * 178) = (539.2, 31.78).
  const std::regex lr(R"re(data-series="lr"[^>]*points="([^"]*)")re");
  std::smatch m;
  ASSERT_TRUE(std::regex_search(page, m, lr));
  const std::string points = m[1];
  EXPECT_EQ(points.substr(0, points.find(' ')), "64.0,208.0");
  EXPECT_EQ(points.substr(points.rfind(' ') + 1), "539.2,31.8");
  EXPECT_EQ(count(points, ","), 100u);
  // The null final loss of step 50 is left out of its line, not drawn as 0.
  const std::regex fin(R"re(data-series="final"[^>]*points="([^"]*)")re");
  ASSERT_TRUE(std::regex_search(page, m, fin));
  EXPECT_EQ(count(m[1].str(), ","), 99u);
}

TEST(Report, LongSeriesAreThinned) {
  Series s{"long", {}, {}};
  for (int i = 0; i < 10000; ++i) {
    s.x.push_back(i);
    s.y.push_back(std::sin(i / 100.0));
  }
  ChartOptions o;
  const std::string svg = line_chart("t", {s}, o);
  EXPECT_EQ(count(svg, ","), 2000u);
}

TEST(Report, ATornLastLineIsSkippedABadMiddleLineIsAnError) {
  const std::string dir = write_run("torn", /*torn_tail=*/true);
  EXPECT_EQ(read_run(dir).steps.size(), 100u);
  {
    std::ofstream steps(dir + "/steps.jsonl", std::ios::app);
    steps << "\n{\"step\": 101}\n";
  }
  const std::string e = asl::testing::error_of([&] { read_run(dir); });
  EXPECT_NE(e.find("steps.jsonl:101"), std::string::npos) << e;
}

TEST(Report, AFolderWithoutStepsIsOneClearError) {
  const std::string dir = fresh_dir("empty");
  const std::string e = asl::testing::error_of([&] { read_run(dir); });
  EXPECT_NE(e.find(dir + "/steps.jsonl"), std::string::npos) << e;
  EXPECT_NE(e.find("asl train"), std::string::npos) << e;
}

TEST(Report, WithoutMetricsFileTheLastValidationIsShown) {
  const std::string dir = write_run("no_metrics");
  fs::remove(dir + "/metrics.json");
  const RunData run = read_run(dir);
  ASSERT_TRUE(run.metrics.has_value());
  EXPECT_DOUBLE_EQ(run.metrics->average_map, 0.3);
  EXPECT_NE(run.metrics_source.find("epoch 4"), std::string::npos) << run.metrics_source;
}

TEST(Report, TheAverageStaysVisibleOverTheLineItCoincidesWith) {
  const std::string page = render(read_run(write_run("average")));
  const std::regex avg(R"re(<polyline[^>]*data-series="average"[^>]*>)re");
  std::smatch m;
  ASSERT_TRUE(std::regex_search(page, m, avg));
  EXPECT_NE(m[0].str().find("stroke-dasharray"), std::string::npos) << m[0];
  const std::regex tiou(R"re(<polyline[^>]*data-series="mAP@0.1"[^>]*>)re");
  ASSERT_TRUE(std::regex_search(page, m, tiou));
  EXPECT_EQ(m[0].str().find("stroke-dasharray"), std::string::npos) << m[0];
}

// An NLQ run (docs/nlq.md): validation lines and metrics carry Rank@K, mIoU and mean R@1.
TEST(Report, NlqRunsShowMeanR1AndRankAtK) {
  const std::string dir = write_run("nlq");
  std::ofstream val(dir + "/validation.jsonl");
  const double mean[] = {0.1, 0.4, 0.3};
  for (int e = 0; e < 3; ++e) {
    val << "{\"R1@0.3\": " << mean[e] + 0.05 << ", \"R1@0.5\": " << mean[e] - 0.05
        << ", \"R5@0.3\": 0.7, \"R5@0.5\": 0.6, \"mIoU\": 0.25, \"mean_R1\": " << mean[e]
        << ", \"evaluated\": 20, \"num_gt_queries\": 20, \"epoch\": " << e + 2 << "}\n";
  }
  val.close();
  fs::remove(dir + "/metrics.json");
  const RunData run = read_run(dir);
  ASSERT_EQ(run.validations.size(), 3u);
  EXPECT_TRUE(run.validations[1].scores.nlq);
  const std::string page = render(run);
  EXPECT_NE(page.find("best mean R@1</td><td id=\"best\">40.00% (epoch 3)"), std::string::npos);
  EXPECT_NE(page.find("Validation Rank@K and mIoU"), std::string::npos);
  EXPECT_NE(page.find("data-series=\"R1@0.5\""), std::string::npos);
  EXPECT_NE(page.find("data-series=\"mean R@1\""), std::string::npos);
  EXPECT_EQ(page.find("average mAP"), std::string::npos);
  EXPECT_EQ(page.find("tIoU 0.7"), std::string::npos);  // NLQ has IoU 0.3 and 0.5
}

TEST(SvgChart, LongBarLabelsAreShortenedWithTheFullNameInTheTooltip) {
  const std::string name = "browse_through_clothing_items_on_rack_/_shelf_/_hanger_and_more_words";
  const std::string svg = bar_chart("t", {name, "short"}, {0.5, 0.25}, 720);
  EXPECT_NE(svg.find("<title>" + name + ": 50%</title>"), std::string::npos) << svg;
  EXPECT_NE(svg.find(">browse_through_clothing_items_on_rack_/_shelf_/"), std::string::npos) << svg;
  EXPECT_EQ(svg.find(">" + name + "<"), std::string::npos) << svg;
  EXPECT_NE(svg.find(">short</text>"), std::string::npos) << svg;
}

TEST(SvgChart, NiceTicksAndMovingMedian) {
  const std::vector<double> small = nice_ticks(0, 0.00099);
  const std::vector<double> expected{0, 2e-4, 4e-4, 6e-4, 8e-4, 1e-3};
  ASSERT_EQ(small.size(), expected.size());
  for (size_t i = 0; i < small.size(); ++i) EXPECT_NEAR(small[i], expected[i], 1e-15) << i;
  EXPECT_EQ(nice_ticks(3, 97), (std::vector<double>{0, 20, 40, 60, 80, 100}));
  const std::vector<double> v{5, 1, 3, NAN, 9};
  const std::vector<double> m = moving_median(v, 3);
  // windows: {5}, {5,1}, {5,1,3}, {1,3}, {3,9}
  ASSERT_EQ(m.size(), 5u);
  EXPECT_EQ(m[0], 5);
  EXPECT_EQ(m[1], 3);
  EXPECT_EQ(m[2], 3);
  EXPECT_EQ(m[3], 2);
  EXPECT_EQ(m[4], 6);
  EXPECT_EQ(escape("<a href='x'>&\"</a>"), "&lt;a href=&#39;x&#39;&gt;&amp;&quot;&lt;/a&gt;");
}

}  // namespace
}  // namespace asl::report
