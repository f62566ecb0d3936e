// asl inspect: what a file holds, by its kind. Configs, annotations, stores and predictions
// are summarized here; checkpoints and parameter counts need tensors (commands.h).
#include <CLI/CLI.hpp>

#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include "cli/commands.h"
#include "cli/inspect_summaries.h"
#include "core/config.h"
#include "core/error.h"
#include "core/strings.h"
#include "data/annotations.h"
#include "data/store.h"

namespace asl::cli {

void add_inspect(CLI::App& app) {
  struct Args {
    std::string path;
    std::vector<std::string> overrides;
    bool params = false, verify = false;
  };
  auto a = std::make_shared<Args>();
  auto* sub = app.add_subcommand(
      "inspect", "summarize a config, store, annotation file, checkpoint or prediction file");
  sub->add_option("PATH", a->path, "file to inspect")->required()->check(CLI::ExistingPath);
  sub->add_option("--set", a->overrides, "config override key.path=value (repeatable)")
      ->allow_extra_args(false);
  sub->add_flag("--params", a->params, "config: print the module tree and parameter counts");
  sub->add_flag("--verify", a->verify, "store: read every dataset and report NaN/Inf");
  sub->callback([a] {
    if (ends_with(a->path, ".yaml") || ends_with(a->path, ".yml")) {
      const config::Config cfg = config::load_config(a->path, a->overrides);
      if (a->params) {
        std::cout << inspect_parameters(a->path, a->overrides);
        return;
      }
      std::cout << config::to_yaml(cfg);
      return;
    }
    if (!a->overrides.empty()) throw Error(a->path, "--set applies to configs only");
    if (ends_with(a->path, ".h5") || ends_with(a->path, ".hdf5")) {
      std::cout << data::summarize_store(a->path);
      if (a->verify) {
        const data::VerifyReport report = data::verify_store(a->path);
        std::cout << "verified: " << report.clips << " clips, " << report.datasets
                  << " datasets, " << report.values << " values\n";
        for (const auto& p : report.problems) std::cout << "problem: " << p << "\n";
        if (!report.problems.empty()) {
          throw Error(a->path, std::to_string(report.problems.size()) +
                                   " problems found (listed above)",
                      "re-pack the affected clips");
        }
      }
      return;
    }
    if (ends_with(a->path, ".json")) {
      std::cout << (looks_like_predictions(a->path)
                        ? summarize_predictions(a->path)
                        : data::summarize(data::read_clip_annotations(a->path)));
      return;
    }
    // Anything else is read as a native checkpoint (.ckpt, or any name): a file that is not
    // one gets the checkpoint reader's error, naming it.
    std::cout << inspect_checkpoint(a->path);
  });
}

}  // namespace asl::cli
