// The project's one error type. It carries a complete, user-facing message:
// what went wrong, where (file, clip or key) and, when known, what to do.
// Commands print it as a single line and exit non-zero.
#pragma once

#include <stdexcept>
#include <string>
#include <utility>

namespace asl {

class Error : public std::runtime_error {
 public:
  explicit Error(const std::string& message) : std::runtime_error(message) {}

  // "where: problem (fix)". `where` is a file, clip id or key path.
  Error(const std::string& where, const std::string& problem, const std::string& fix = "")
      : std::runtime_error(compose(where, problem, fix)) {}

 private:
  static std::string compose(const std::string& where, const std::string& problem,
                             const std::string& fix) {
    std::string m = where.empty() ? problem : where + ": " + problem;
    if (!fix.empty()) m += " (" + fix + ")";
    return m;
  }
};

// A run stopped on request (SIGTERM/SIGINT) after saving its state; exits with 128 + SIGTERM
// so schedulers see an interrupted job, not a failed one.
class Interrupted : public Error {
 public:
  explicit Interrupted(const std::string& what) : Error(what) {}
};

}  // namespace asl
