// Small SVG charts for the HTML report: line charts (several series against a shared x)
// and horizontal bar charts. Self-contained SVG text, no scripts, no external references.
#pragma once

#include <string>
#include <vector>

namespace asl::report {

struct Series {
  std::string name;
  std::vector<double> x, y;  // equal lengths; points with a non-finite y are left out
  // Drawn thicker and dashed: a summary (an average, a running median) that must stay
  // visible where it runs on top of one of the raw lines.
  bool emphasized = false;
};

struct ChartOptions {
  int width = 560, height = 260;
  std::string x_label, y_label;
  bool percent = false;      // y values are fractions, ticks in percent
  size_t max_points = 2000;  // per series; longer series are thinned evenly
};

// The plot area inside the chart, in SVG pixels.
struct PlotArea {
  double left, right, top, bottom;
};
PlotArea plot_area(const ChartOptions& options);

// "Nice" tick values covering [lo, hi]: steps of 1, 2 or 5 times a power of ten.
std::vector<double> nice_ticks(double lo, double hi, int target = 5);

// A line chart of the series, with axes, tick labels and a legend. The axes span the data
// rounded out to the outer ticks. Empty series give a chart that says "no data".
std::string line_chart(const std::string& title, const std::vector<Series>& series,
                       const ChartOptions& options);

// Horizontal bars, one per label, in the given order, values as fractions shown in percent.
// Labels too long for the label column are shortened; the bar's tooltip holds the full one.
std::string bar_chart(const std::string& title, const std::vector<std::string>& labels,
                      const std::vector<double>& values, int width = 560);

// Text escaped for HTML and SVG (& < > " ').
std::string escape(const std::string& text);

// A value as a short label: "0.0001", "2.5e-05", "120", "1.2k".
std::string format_tick(double value, bool percent = false);

}  // namespace asl::report
