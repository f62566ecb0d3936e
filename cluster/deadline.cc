#include "cluster/deadline.h"

#include <chrono>

namespace asl::cluster {

Deadline::Deadline(double seconds, std::function<void()> on_expiry) {
  if (seconds <= 0) return;
  thread_ = std::thread([this, seconds, on_expiry = std::move(on_expiry)] {
    std::unique_lock<std::mutex> lock(mutex_);
    if (done_.wait_for(lock, std::chrono::duration<double>(seconds), [this] { return finished_; })) {
      return;
    }
    lock.unlock();
    on_expiry();
  });
}

Deadline::~Deadline() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    finished_ = true;
  }
  done_.notify_all();
  if (thread_.joinable()) thread_.join();
}

}  // namespace asl::cluster
