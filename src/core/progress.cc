#include "core/progress.h"

#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>

#include <spdlog/spdlog.h>

#include "core/logging.h"

namespace asl {
namespace {

// ASL_PROGRESS=0 turns off both forms.
bool switched_off() {
  const char* flag = std::getenv("ASL_PROGRESS");
  return flag && std::strcmp(flag, "0") == 0;
}

}  // namespace

bool Progress::interactive() {
  const char* ci = std::getenv("CI");
  if (switched_off()) return false;
  if (ci && *ci && std::strcmp(ci, "false") != 0) return false;
  return isatty(STDERR_FILENO) == 1;
}

Progress::Progress(std::string label, int64_t total, std::string unit)
    : label_(std::move(label)),
      unit_(std::move(unit)),
      total_(total),
      enabled_(interactive()),
      start_(std::chrono::steady_clock::now()),
      last_draw_(start_) {
  plain_ = !enabled_ && !switched_off() && logging::rank() == 0;
  if (const char* interval = std::getenv("ASL_PROGRESS_INTERVAL")) {
    const double v = std::atof(interval);
    if (v > 0) plain_interval_s_ = v;
  }
}

namespace {

std::string duration_text(double seconds) {
  char buf[32];
  const long s = static_cast<long>(seconds + 0.5);
  if (s >= 3600) {
    std::snprintf(buf, sizeof buf, "%ldh%02ldm", s / 3600, (s % 3600) / 60);
  } else if (s >= 60) {
    std::snprintf(buf, sizeof buf, "%ldm%02lds", s / 60, s % 60);
  } else {
    std::snprintf(buf, sizeof buf, "%lds", s);
  }
  return buf;
}

}  // namespace

std::string Progress::describe(const std::string& label, int64_t done, int64_t total,
                               const std::string& unit, double elapsed) {
  const double rate = elapsed > 0 ? done / elapsed : 0.0;
  char line[256];
  if (total > 0) {
    const double eta = rate > 0 ? (total - done) / rate : 0.0;
    std::snprintf(line, sizeof line, "%s: %lld/%lld %s (%.0f%%), %.2f %s/s, ETA %s",
                  label.c_str(), static_cast<long long>(done), static_cast<long long>(total),
                  unit.c_str(), 100.0 * done / total, rate, unit.c_str(),
                  rate > 0 ? duration_text(eta).c_str() : "?");
  } else {
    std::snprintf(line, sizeof line, "%s: %lld %s, %.2f %s/s", label.c_str(),
                  static_cast<long long>(done), unit.c_str(), rate, unit.c_str());
  }
  return line;
}

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
  const auto now = std::chrono::steady_clock::now();
  const double elapsed = std::chrono::duration<double>(now - start_).count();
  if (plain_) {
    if (std::chrono::duration<double>(now - last_draw_).count() < plain_interval_s_) return;
    last_draw_ = now;
    spdlog::info("{}", describe(label_, done_, total_, unit_, elapsed));
    return;
  }
  if (!enabled_) return;
  if (!force && now - last_draw_ < std::chrono::milliseconds(200)) return;
  last_draw_ = now;
  const std::string line = "\r" + describe(label_, done_, total_, unit_, elapsed) + "   ";
  std::fputs(line.c_str(), stderr);
  std::fflush(stderr);
}

}  // namespace asl
