// A time limit around a call that has none of its own (ncclCommInitRank waits for every rank
// forever): if the guarded scope is still running after `seconds`, `on_expiry` runs on the
// deadline's own thread. The handler is expected to end the process, as the collectives'
// watchdog does; leaving the scope in time disarms it. Tensor-free.
#pragma once

#include <condition_variable>
#include <functional>
#include <mutex>
#include <thread>

namespace asl::cluster {

class Deadline {
 public:
  // seconds <= 0: no limit (nothing is started).
  Deadline(double seconds, std::function<void()> on_expiry);
  ~Deadline();  // disarms, then waits for the thread (and a handler already running)
  Deadline(const Deadline&) = delete;
  Deadline& operator=(const Deadline&) = delete;

 private:
  std::mutex mutex_;
  std::condition_variable done_;
  bool finished_ = false;
  std::thread thread_;
};

}  // namespace asl::cluster
