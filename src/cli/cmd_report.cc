// asl report
#include <CLI/CLI.hpp>

#include <iostream>
#include <memory>
#include <string>

#include "cli/commands.h"
#include "core/fs.h"
#include "report/report.h"

namespace asl::cli {

void add_report(CLI::App& app) {
  struct Args {
    std::string run_dir, out, metrics;
  };
  auto a = std::make_shared<Args>();
  auto* sub = app.add_subcommand("report", "a training run as one self-contained HTML page");
  sub->add_option("RUN_DIR", a->run_dir, "the --output folder of asl train")->required()->check(
      CLI::ExistingDirectory);
  sub->add_option("--out", a->out, "HTML file to write")->required();
  sub->add_option("--metrics", a->metrics,
                  "metrics JSON of asl eval --json (default: RUN_DIR/metrics.json, else the last "
                  "validation)")
      ->check(CLI::ExistingFile);
  sub->callback([a] {
    const report::RunData run = report::read_run(a->run_dir, a->metrics);
    write_file_atomic(a->out, report::render(run));
    std::cout << "wrote " << a->out << " (" << run.steps.size() << " steps, "
              << run.validations.size() << " validations)\n";
  });
}

}  // namespace asl::cli
