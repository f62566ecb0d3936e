#include "report/svg_chart.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>

namespace asl::report {
namespace {

// A palette that stays readable for up to eight lines.
const char* const kColors[] = {"#1f77b4", "#d62728", "#2ca02c", "#ff7f0e",
                               "#9467bd", "#8c564b", "#e377c2", "#17becf"};

std::string num(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f", v);
  return buf;
}

// Indices of at most `max_points` points spread evenly, first and last kept.
std::vector<size_t> thinned(size_t n, size_t max_points) {
  std::vector<size_t> idx;
  if (n <= max_points || max_points < 2) {
    for (size_t i = 0; i < n; ++i) idx.push_back(i);
    return idx;
  }
  for (size_t k = 0; k < max_points; ++k) idx.push_back(k * (n - 1) / (max_points - 1));
  return idx;
}

}  // namespace

std::string escape(const std::string& text) {
  std::string out;
  out.reserve(text.size());
  for (const char c : text) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      case '\'': out += "&#39;"; break;
      default: out += c;
    }
  }
  return out;
}

std::string format_tick(double v, bool percent) {
  char buf[32];
  if (percent) {
    std::snprintf(buf, sizeof buf, "%g%%", std::round(v * 1000) / 10);
    return buf;
  }
  const double a = std::fabs(v);
  if (a != 0 && (a < 1e-3 || a >= 1e6)) {
    std::snprintf(buf, sizeof buf, "%.2g", v);
  } else if (a >= 1e4) {
    std::snprintf(buf, sizeof buf, "%gk", v / 1000);
  } else {
    std::snprintf(buf, sizeof buf, "%g", v);
  }
  return buf;
}

PlotArea plot_area(const ChartOptions& o) {
  return {64.0, o.width - 16.0, 30.0, o.height - 52.0};
}

std::vector<double> nice_ticks(double lo, double hi, int target) {
  if (!(hi > lo)) {
    const double pad = lo == 0 ? 1 : std::fabs(lo) * 0.1;
    lo -= pad;
    hi += pad;
  }
  const double raw = (hi - lo) / std::max(1, target);
  const double power = std::pow(10.0, std::floor(std::log10(raw)));
  double step = power;
  for (const double m : {1.0, 2.0, 5.0, 10.0}) {
    if (raw <= m * power) {
      step = m * power;
      break;
    }
  }
  // Multiples of the step (no running sum, so no drift).
  std::vector<double> ticks;
  for (double k = std::floor(lo / step); k * step < hi + step * 0.999 && ticks.size() <= 50; ++k) {
    ticks.push_back(k == 0 ? 0.0 : k * step);
  }
  return ticks;
}

std::string line_chart(const std::string& title, const std::vector<Series>& series,
                       const ChartOptions& o) {
  const PlotArea a = plot_area(o);
  double xmin = std::numeric_limits<double>::infinity(), xmax = -xmin, ymin = xmin, ymax = -xmin;
  for (const Series& s : series) {
    for (size_t i = 0; i < s.x.size() && i < s.y.size(); ++i) {
      if (!std::isfinite(s.y[i]) || !std::isfinite(s.x[i])) continue;
      xmin = std::min(xmin, s.x[i]);
      xmax = std::max(xmax, s.x[i]);
      ymin = std::min(ymin, s.y[i]);
      ymax = std::max(ymax, s.y[i]);
    }
  }
  std::string svg = "<svg class=\"chart\" width=\"" +
                    std::to_string(o.width) + "\" height=\"" + std::to_string(o.height) +
                    "\" viewBox=\"0 0 " + std::to_string(o.width) + " " +
                    std::to_string(o.height) + "\" role=\"img\">\n";
  svg += "<title>" + escape(title) + "</title>\n";
  svg += "<text class=\"chart-title\" x=\"" + num(a.left) + "\" y=\"18\">" + escape(title) + "</text>\n";
  if (!std::isfinite(xmin)) {
    svg += "<text x=\"" + num((a.left + a.right) / 2) + "\" y=\"" + num((a.top + a.bottom) / 2) +
           "\" text-anchor=\"middle\" class=\"muted\">no data</text>\n</svg>\n";
    return svg;
  }
  const std::vector<double> xt = nice_ticks(xmin, xmax), yt = nice_ticks(ymin, ymax);
  const double x0 = std::min(xt.front(), xmin), x1 = std::max(xt.back(), xmax);
  const double y0 = std::min(yt.front(), ymin), y1 = std::max(yt.back(), ymax);
  const auto px = [&](double x) { return a.left + (x - x0) / (x1 - x0) * (a.right - a.left); };
  const auto py = [&](double y) { return a.bottom - (y - y0) / (y1 - y0) * (a.bottom - a.top); };
  // Grid and tick labels.
  for (const double t : yt) {
    svg += "<line class=\"grid\" x1=\"" + num(a.left) + "\" x2=\"" + num(a.right) + "\" y1=\"" +
           num(py(t)) + "\" y2=\"" + num(py(t)) + "\"/>";
    svg += "<text class=\"tick\" x=\"" + num(a.left - 6) + "\" y=\"" + num(py(t) + 4) +
           "\" text-anchor=\"end\">" + escape(format_tick(t, o.percent)) + "</text>\n";
  }
  for (const double t : xt) {
    svg += "<line class=\"grid\" x1=\"" + num(px(t)) + "\" x2=\"" + num(px(t)) + "\" y1=\"" +
           num(a.top) + "\" y2=\"" + num(a.bottom) + "\"/>";
    svg += "<text class=\"tick\" x=\"" + num(px(t)) + "\" y=\"" + num(a.bottom + 16) +
           "\" text-anchor=\"middle\">" + escape(format_tick(t)) + "</text>\n";
  }
  svg += "<rect class=\"frame\" x=\"" + num(a.left) + "\" y=\"" + num(a.top) + "\" width=\"" +
         num(a.right - a.left) + "\" height=\"" + num(a.bottom - a.top) + "\"/>\n";
  if (!o.x_label.empty()) {
    svg += "<text class=\"axis-label\" x=\"" + num((a.left + a.right) / 2) + "\" y=\"" +
           num(a.bottom + 32) + "\" text-anchor=\"middle\">" + escape(o.x_label) + "</text>\n";
  }
  if (!o.y_label.empty()) {
    svg += "<text class=\"axis-label\" transform=\"translate(14," + num((a.top + a.bottom) / 2) +
           ") rotate(-90)\" text-anchor=\"middle\">" + escape(o.y_label) + "</text>\n";
  }
  // Lines, then the legend along the bottom.
  double legend_x = a.left;
  for (size_t k = 0; k < series.size(); ++k) {
    const Series& s = series[k];
    const char* color = kColors[k % (sizeof kColors / sizeof *kColors)];
    std::string points;
    size_t shown = 0;
    for (const size_t i : thinned(std::min(s.x.size(), s.y.size()), o.max_points)) {
      if (!std::isfinite(s.y[i]) || !std::isfinite(s.x[i])) continue;
      points += (points.empty() ? "" : " ") + num(px(s.x[i])) + "," + num(py(s.y[i]));
      ++shown;
    }
    if (shown == 1) {  // one point: a dot, since a one-point polyline draws nothing
      svg += "<circle cx=\"" + points.substr(0, points.find(',')) + "\" cy=\"" +
             points.substr(points.find(',') + 1) + "\" r=\"3\" fill=\"" + color + "\"/>\n";
    }
    const std::string stroke = std::string(" stroke=\"") + color + "\"" +
                               (s.emphasized ? " stroke-width=\"2.5\" stroke-dasharray=\"7 3\""
                                             : " stroke-width=\"1.5\"");
    svg += "<polyline class=\"series\" data-series=\"" + escape(s.name) + "\" fill=\"none\"" +
           stroke + " points=\"" + points + "\"/>\n";
    // The legend swatch is a short stretch of the line itself, dashes included.
    svg += "<line x1=\"" + num(legend_x) + "\" x2=\"" + num(legend_x + 18) + "\" y1=\"" +
           num(o.height - 11.5) + "\" y2=\"" + num(o.height - 11.5) + "\"" + stroke + "/>";
    svg += "<text class=\"legend\" x=\"" + num(legend_x + 22) + "\" y=\"" + num(o.height - 8.0) +
           "\">" + escape(s.name) + "</text>\n";
    legend_x += 36 + 7 * static_cast<double>(s.name.size());
  }
  svg += "</svg>\n";
  return svg;
}

std::string bar_chart(const std::string& title, const std::vector<std::string>& labels,
                      const std::vector<double>& values, int width) {
  // Ego4D class names run to 50+ characters; the label column takes almost half the width.
  const double row = 18, top = 30, label_w = 0.45 * width, right = width - 60.0;
  const size_t max_chars = static_cast<size_t>(label_w / 5.8);
  const int height = static_cast<int>(top + row * static_cast<double>(labels.size()) + 10);
  double vmax = 0;
  for (const double v : values) vmax = std::max(vmax, std::isfinite(v) ? v : 0.0);
  if (vmax <= 0) vmax = 1;
  std::string svg = "<svg class=\"chart\" width=\"" +
                    std::to_string(width) + "\" height=\"" + std::to_string(height) +
                    "\" viewBox=\"0 0 " + std::to_string(width) + " " + std::to_string(height) +
                    "\" role=\"img\">\n<title>" + escape(title) + "</title>\n";
  svg += "<text class=\"chart-title\" x=\"8\" y=\"18\">" + escape(title) + "</text>\n";
  for (size_t i = 0; i < labels.size() && i < values.size(); ++i) {
    const double y = top + row * static_cast<double>(i);
    const double v = std::isfinite(values[i]) ? values[i] : 0.0;
    const double w = v / vmax * (right - label_w - 8);
    std::string name = labels[i];
    if (name.size() > max_chars) {
      size_t cut = max_chars - 1;
      while (cut > 0 && (static_cast<unsigned char>(name[cut]) & 0xC0) == 0x80) --cut;  // UTF-8
      name = name.substr(0, cut) + "\u2026";
    }
    svg += "<text class=\"tick\" x=\"" + num(label_w) + "\" y=\"" + num(y + 12) +
           "\" text-anchor=\"end\">" + escape(name) + "</text>";
    svg += "<rect class=\"bar\" data-label=\"" + escape(labels[i]) + "\" x=\"" + num(label_w + 6) +
           "\" y=\"" + num(y + 2) + "\" width=\"" + num(w) + "\" height=\"" + num(row - 5) + "\"><title>" +
           escape(labels[i]) + ": " + escape(format_tick(v, true)) + "</title></rect>";
    svg += "<text class=\"tick\" x=\"" + num(label_w + 10 + w) + "\" y=\"" + num(y + 12) + "\">" +
           escape(format_tick(v, true)) + "</text>\n";
  }
  svg += "</svg>\n";
  return svg;
}

}  // namespace asl::report
