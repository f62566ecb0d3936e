// Progress of long work with rate and ETA, in one of two forms:
//  - a terminal (stderr is a tty, CI unset): one line redrawn in place, 5 times a second;
//  - otherwise (logs, mpirun, CI): a plain log line every ASL_PROGRESS_INTERVAL seconds
//    (default 60) from rank 0, so a log shows the work is alive without filling up.
// ASL_PROGRESS=0 turns both off.
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

  // "LABEL: 120/400 steps (30%), 2.1 steps/s, ETA 2m13s" for `done` of `total` after
  // `elapsed` seconds (total 0: no share and no ETA).
  static std::string describe(const std::string& label, int64_t done, int64_t total,
                              const std::string& unit, double elapsed);

 private:
  void draw(bool force);

  std::string label_, unit_;
  int64_t total_, done_ = 0;
  bool enabled_, finished_ = false;
  bool plain_ = false;          // periodic log lines instead of a redrawn line
  double plain_interval_s_ = 60;
  std::chrono::steady_clock::time_point start_, last_draw_;
};

}  // namespace asl
