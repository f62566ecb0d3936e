// The tensor commands as `asl` registers them (commands.h): name and description only; their
// options are asl-torch's, which parses the whole command line again, `--help` included.
#include <CLI/CLI.hpp>

#include <string>
#include <vector>

#include "cli/commands.h"
#include "cli/tensor_handoff.h"

namespace asl::cli {
namespace {

void add_handed_on(CLI::App& app, const char* name, const char* description) {
  auto* sub = app.add_subcommand(name, description);
  sub->set_help_flag();     // --help too is asl-torch's
  sub->fallthrough(false);  // nothing after the name goes back to the top level
  sub->prefix_command();    // every argument after the name is kept for asl-torch
  sub->allow_extras();
  sub->callback([] { hand_to_tensor_binary(); });
}

}  // namespace

void add_train(CLI::App& app) { add_handed_on(app, "train", kTrainHelp); }
void add_eval(CLI::App& app) { add_handed_on(app, "eval", kEvalHelp); }
void add_infer(CLI::App& app) { add_handed_on(app, "infer", kInferHelp); }
void add_import(CLI::App& app) { add_handed_on(app, "import", kImportHelp); }
void add_bench(CLI::App& app) { add_handed_on(app, "bench", kBenchHelp); }

std::string inspect_checkpoint(const std::string&) { hand_to_tensor_binary(); }
std::string inspect_parameters(const std::string&, const std::vector<std::string>&) {
  hand_to_tensor_binary();
}

}  // namespace asl::cli
