#include "core/progress.h"

#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace asl {

bool Progress::interactive() {
  const char* ci = std::getenv("CI");
  const char* flag = std::getenv("ASL_PROGRESS");
  if (flag && std::strcmp(flag, "0") == 0) return false;
  if (ci && *ci && std::strcmp(ci, "false") != 0) return false;
  return isatty(STDERR_FILENO) == 1;
}

Progress::Progress(std::string label, int64_t total, std::string unit)
    : label_(std::move(label)),
      unit_(std::move(unit)),
      total_(total),
      enabled_(interactive()),
      start_(std::chrono::steady_clock::now()),
      last_draw_(start_) {}

Progress::~Progress() {
  if (!finished_) finish();
}

void Progress::advance(int64_t n) {
  done_ += n;
  draw(false);
}

double Progress::finish() {
  const double elapsed =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  if (!finished_ && enabled_) {
    draw(true);
    std::fputc('\n', stderr);
  }
  finished_ = true;
  return elapsed;
}

void Progress::draw(bool force) {
  if (!enabled_) return;
  const auto now = std::chrono::steady_clock::now();
  if (!force && now - last_draw_ < std::chrono::milliseconds(200)) return;
  last_draw_ = now;
  const double elapsed = std::chrono::duration<double>(now - start_).count();
  const double rate = elapsed > 0 ? done_ / elapsed : 0.0;
  char line[256];
  if (total_ > 0) {
    const double eta = rate > 0 ? (total_ - done_) / rate : 0.0;
    std::snprintf(line, sizeof line, "\r%s: %lld/%lld %s (%.0f%%), %.1f %s/s, ETA %.0fs   ",
                  label_.c_str(), static_cast<long long>(done_), static_cast<long long>(total_),
                  unit_.c_str(), 100.0 * done_ / total_, rate, unit_.c_str(), eta);
  } else {
    std::snprintf(line, sizeof line, "\r%s: %lld %s, %.1f %s/s   ", label_.c_str(),
                  static_cast<long long>(done_), unit_.c_str(), rate, unit_.c_str());
  }
  std::fputs(line, stderr);
  std::fflush(stderr);
}

}  // namespace asl
