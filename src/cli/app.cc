#include "cli/app.h"

#include <CLI/CLI.hpp>

#include <cstdio>
#include <exception>
#include <string>

#include "asl/build_info.h"
#include "cli/commands.h"
#include "cli/tensor_handoff.h"
#include "core/error.h"
#include "core/logging.h"
#include "core/strings.h"

namespace asl::cli {
namespace {

// What the build holds; read from the build, so `asl --version` loads no LibTorch.
std::string version_text() {
  return std::string("asl " ASL_VERSION " (" ASL_BUILD_TYPE ")\n") +
         "LibTorch " ASL_TORCH_VERSION " (linked by asl-torch), CUDA toolkit " +
         (ASL_HAVE_CUDA ? "on" : "off") + ", NCCL " + (ASL_HAVE_NCCL ? "on" : "off") + "\n";
}

void print_error(const char* kind, const std::string& message) {
  std::fprintf(stderr, "%sasl: %s%s\n", logging::rank_prefix().c_str(), kind,
               one_line(message).c_str());
}

}  // namespace

int run_app(int argc, char** argv, const Job& job) {
  remember_command_line(argc, argv);
  // A failure on one rank must end the whole job at once, with that rank's message.
  const auto fail = [&job](const char* kind, const std::string& message) {
    if (job.abort_all) job.abort_all(std::string("asl: ") + kind + one_line(message));
    print_error(kind, message);
    return kExitError;
  };
  CLI::App app{"Ego4D-ASL: temporal action localization on Ego4D Moment Queries", "asl"};
  app.require_subcommand(1);
  app.fallthrough();  // global options may follow the subcommand
  logging::Options log_options;
  app.add_option("--log-level", log_options.level,
                 "trace, debug, info, warn, error, critical or off")
      ->capture_default_str();
  app.add_option("--log-file", log_options.file, "also log to this file ({rank} -> rank)");
  app.add_flag_callback(
      "--version",
      [] {
        std::fputs(version_text().c_str(), stdout);
        throw CLI::Success();
      },
      "print the version and the LibTorch/CUDA set-up of the build");
  app.parse_complete_callback([&log_options] { logging::init(log_options); });
  add_all(app);

  try {
    app.parse(argc, argv);
    return 0;
  } catch (const CLI::Success& e) {  // also --help (CallForHelp derives from Success)
    return app.exit(e);
  } catch (const CLI::Error& e) {
    print_error("usage error: ", std::string(e.what()) + " (run with --help for the options)");
    return kExitUsage;
  } catch (const Interrupted& e) {
    // Every rank agreed to stop and the state is saved: a clean exit, not an abort.
    if (job.is_root) print_error("", e.what());
    return kExitInterrupted;
  } catch (const Error& e) {
    return fail("error: ", e.what());
  } catch (const std::exception& e) {
    return fail("internal error: ", e.what());
  }
}

}  // namespace asl::cli
