// The `asl` subcommands (listed in README.md). Each add_* registers one subcommand with its
// options on the application; its callback runs the command when it is chosen.
#pragma once

namespace CLI {
class App;
}

namespace asl::cli {

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
