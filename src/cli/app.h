// The command line of both binaries (commands.h): global options, the subcommands, and one
// line on stderr with the exit code for every kind of failure.
#pragma once

#include <functional>
#include <string>

namespace asl::cli {

inline constexpr int kExitError = 1;
inline constexpr int kExitUsage = 64;
inline constexpr int kExitInterrupted = 143;  // 128 + SIGTERM

struct Job {
  // Ends every rank of a multi-rank job with this message (the caller's rank failed); null
  // for a process of its own.
  std::function<void(const std::string&)> abort_all;
  bool is_root = true;
};

// Parses argv and runs the chosen subcommand; returns the exit code.
int run_app(int argc, char** argv, const Job& job);

}  // namespace asl::cli
