// Progress of long work: a one-line bar with rate and ETA on a terminal (stderr is a tty
// and CI is unset); silent otherwise, apart from an optional summary at the end.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>

namespace asl {

class Progress {
 public:
  // `total` 0: unknown (no ETA). `unit` names the counted things ("clips").
  Progress(std::string label, int64_t total, std::string unit);
  ~Progress();

  void advance(int64_t n = 1);
  // Ends the line on a terminal; returns the elapsed seconds.
  double finish();

  // True when progress lines are drawn (a terminal, CI unset, ASL_PROGRESS not 0).
  static bool interactive();

 private:
  void draw(bool force);

  std::string label_, unit_;
  int64_t total_, done_ = 0;
  bool enabled_, finished_ = false;
  std::chrono::steady_clock::time_point start_, last_draw_;
};

}  // namespace asl
