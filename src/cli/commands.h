// The `asl` subcommands (listed in README.md). Each add_* registers one subcommand with its
// options on the application; its callback runs the command when it is chosen.
//
// Two binaries share this list. `asl` needs no LibTorch and starts in milliseconds: it runs
// convert, synth, pack, inspect (configs, annotations, stores, predictions), score and
// report itself. The commands that compute with tensors (train, eval, infer, import, bench,
// inspect of a checkpoint or of parameter counts) live in `asl-torch`, next to it: `asl`
// registers them with the same name and description and hands their command line, as
// given, to `asl-torch` (cli/tensor_handoff.h).
#pragma once

#include <string>
#include <vector>

namespace CLI {
class App;
}

namespace asl::cli {

// Descriptions of the tensor commands, shared by both binaries.
inline constexpr const char* kTrainHelp = "train ASL (under mpirun: data-parallel)";
inline constexpr const char* kEvalHelp = "infer a split and score it (metrics table)";
inline constexpr const char* kInferHelp = "write the challenge submission for a split";
inline constexpr const char* kImportHelp = "reference PyTorch checkpoint -> native checkpoint";
inline constexpr const char* kBenchHelp = "benchmarks (medians against a baseline in the same run)";

void add_convert(CLI::App& app);
void add_synth(CLI::App& app);
void add_pack(CLI::App& app);
void add_inspect(CLI::App& app);
void add_train(CLI::App& app);
void add_eval(CLI::App& app);
void add_infer(CLI::App& app);
void add_score(CLI::App& app);
void add_import(CLI::App& app);
void add_bench(CLI::App& app);
void add_report(CLI::App& app);

// The parts of `asl inspect` that need tensors: a native checkpoint's summary, and a
// config's module tree with parameter counts.
std::string inspect_checkpoint(const std::string& path);
std::string inspect_parameters(const std::string& config, const std::vector<std::string>& overrides);

// Registers every subcommand, in the order of the README's command list.
inline void add_all(CLI::App& app) {
  add_convert(app);
  add_synth(app);
  add_pack(app);
  add_inspect(app);
  add_train(app);
  add_eval(app);
  add_infer(app);
  add_score(app);
  add_import(app);
  add_bench(app);
  add_report(app);
}

}  // namespace asl::cli
