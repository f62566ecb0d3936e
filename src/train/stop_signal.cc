#include "train/stop_signal.h"

#include <csignal>
#include <cstdlib>

namespace asl::train {
namespace {

volatile std::sig_atomic_t g_stop = 0;

extern "C" void on_stop_signal(int signal) {
  if (g_stop) std::_Exit(128 + signal);  // asked twice: do not wait for the step
  g_stop = 1;
}

}  // namespace

void install_stop_handlers() {
  struct sigaction action {};
  action.sa_handler = on_stop_signal;
  sigemptyset(&action.sa_mask);
  action.sa_flags = SA_RESTART;
  sigaction(SIGTERM, &action, nullptr);
  sigaction(SIGINT, &action, nullptr);
}

bool stop_requested() { return g_stop != 0; }

void request_stop(bool on) { g_stop = on ? 1 : 0; }

}  // namespace asl::train
