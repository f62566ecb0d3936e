// asl import
#include <CLI/CLI.hpp>

#include <cstdio>
#include <memory>
#include <string>

#include "cli/commands.h"
#include "core/config.h"
#include "model/import.h"

namespace asl::cli {

void add_import(CLI::App& app) {
  struct Args {
    std::string checkpoint, config, out;
  };
  auto a = std::make_shared<Args>();
  auto* sub = app.add_subcommand("import", kImportHelp);
  sub->add_option("PYTORCH_CHECKPOINT", a->checkpoint, "reference checkpoint (.pth.tar)")
      ->required()->check(CLI::ExistingFile);
  sub->add_option("--config", a->config, "config of the model it belongs to")->required()
      ->check(CLI::ExistingFile);
  sub->add_option("--out", a->out, "native checkpoint to write")->required();
  sub->callback([a] {
    const config::Config cfg = config::load_config(a->config);
    const model::ImportReport r = model::import_reference_checkpoint(a->checkpoint, cfg, a->out);
    const std::string text = r.imported_line() + " -> " + a->out + "\n" + r.dead_line() + "\n";
    std::fputs(text.c_str(), stdout);
  });
}

}  // namespace asl::cli
