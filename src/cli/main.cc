// The `asl` command: one binary, one subcommand per stage (README.md, "The `asl` command").
#include <CLI/CLI.hpp>
#include <spdlog/spdlog.h>

#include <cstdio>
#include <exception>
#include <string>

#include "asl/build_info.h"
#include "cli/commands.h"
#include "cluster/runtime.h"
#include "core/error.h"
#include "core/logging.h"
#include "core/strings.h"
#include "core/torch_runtime.h"

namespace {

constexpr int kExitError = 1;
constexpr int kExitUsage = 64;
constexpr int kExitInterrupted = 143;  // 128 + SIGTERM

std::string version_text() {
  const asl::TorchRuntime torch = asl::torch_runtime();
  std::string text = "asl " ASL_VERSION " (" ASL_BUILD_TYPE ")\n";
  text += "LibTorch " + torch.version + ", CUDA " +
          (torch.cuda ? "yes (" + std::to_string(torch.cuda_devices) + " devices)" : "no") +
          ", CUDA toolkit " + (ASL_HAVE_CUDA ? "on" : "off") + ", NCCL " +
          (ASL_HAVE_NCCL ? "on" : "off") + "\n";
  return text;
}

void print_error(const char* kind, const std::string& message) {
  std::fprintf(stderr, "%sasl: %s%s\n", asl::logging::rank_prefix().c_str(), kind,
               asl::one_line(message).c_str());
}

}  // namespace

int main(int argc, char** argv) {
  // Under mpirun/srun: MPI starts here and ends when main returns (a world of one otherwise).
  asl::cluster::Runtime runtime(&argc, &argv);
  // A failure on one rank must end the whole job at once, with that rank's message.
  const auto fail = [&runtime](const char* kind, const std::string& message) {
    if (runtime.size() > 1) runtime.abort(std::string("asl: ") + kind + asl::one_line(message));
    print_error(kind, message);
    return kExitError;
  };
  CLI::App app{"Ego4D-ASL: temporal action localization on Ego4D Moment Queries", "asl"};
  app.require_subcommand(1);
  app.fallthrough();  // global options may follow the subcommand
  asl::logging::Options log_options;
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
      "print the version and the LibTorch/CUDA set-up");
  app.parse_complete_callback([&log_options] { asl::logging::init(log_options); });
  asl::cli::add_all(app);

  try {
    app.parse(argc, argv);
    return 0;
  } catch (const CLI::Success& e) {  // also --help (CallForHelp derives from Success)
    return app.exit(e);
  } catch (const CLI::Error& e) {
    print_error("usage error: ", std::string(e.what()) + " (run with --help for the options)");
    return kExitUsage;
  } catch (const asl::Interrupted& e) {
    // Every rank agreed to stop and the state is saved: a clean exit, not an abort.
    if (runtime.rank() == 0) print_error("", e.what());
    return kExitInterrupted;
  } catch (const asl::Error& e) {
    return fail("error: ", e.what());
  } catch (const std::exception& e) {
    return fail("internal error: ", e.what());
  }
}
