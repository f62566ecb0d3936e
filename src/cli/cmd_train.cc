// asl train
#include <CLI/CLI.hpp>

#include <memory>
#include <string>
#include <vector>

#include "cli/commands.h"
#include "cli/job.h"
#include "core/config.h"
#include "core/error.h"
#include "data/annotations.h"
#include "eval/task.h"
#include "data/dataset.h"
#include "train/stop_signal.h"
#include "train/trainer.h"
#include "train/validation.h"

namespace asl::cli {

void add_train(CLI::App& app) {
  struct Args {
    std::string config;
    std::vector<std::string> overrides;
    std::string output, resume, init;
    bool no_validation = false;
  };
  auto a = std::make_shared<Args>();
  auto* sub = app.add_subcommand("train", kTrainHelp);
  sub->add_option("CONFIG", a->config, "YAML config (see configs/)")->required()->check(
      CLI::ExistingFile);
  sub->add_option("--set", a->overrides, "override a key: --set key.path=value (repeatable)")
      ->allow_extra_args(false);
  sub->add_option("--output", a->output, "output folder (default: output_folder/CONFIG-name)");
  sub->add_option("--resume", a->resume, "auto (newest complete checkpoint) or a checkpoint path");
  sub->add_option("--init", a->init, "start from these weights (fine-tuning, imported weights)")
      ->check(CLI::ExistingFile);
  sub->add_flag("--no-validation", a->no_validation,
                "skip validation (default: EMA weights on val_split after each epoch from "
                "checkpoint.eval_start_epoch, as the reference)");
  sub->callback([a] {
    const config::Config cfg = config::load_config(a->config, a->overrides);  // bad configs fail first
    if (!a->resume.empty() && !a->init.empty()) {
      throw Error("--init", "--init and --resume exclude each other",
                  "a resumed run continues from its own weights");
    }
    if (cfg.dataset.json_file.empty()) {
      throw Error(a->config, "dataset.json_file is not set", "name the clip annotations file");
    }
    const std::string output =
        a->output.empty() ? train::default_output_dir(cfg, a->config) : a->output;
    const auto exporter = job_exporter(cfg, run_name(output));  // a taken port fails here
    const eval::TaskAnnotations task = eval::read_task_annotations(cfg);
    const auto& annotations = task.clips;
    const auto comm = job_communicator(cfg);
    train::TrainerOptions options;
    options.output_dir = output;
    options.resume = a->resume;
    options.init = a->init;
    options.comm = comm.get();
    train::install_stop_handlers();
    train::Trainer trainer(cfg, annotations, data::make_feature_source(cfg), options);
    std::shared_ptr<train::Validator> validator;
    if (!a->no_validation) {
      validator = std::make_shared<train::Validator>(cfg, task, options.output_dir, comm.get());
      trainer.set_epoch_end_hook(
          [validator](const train::EpochEnd& end) { validator->maybe_validate(end); });
    }
    trainer.run();
    if (exporter) exporter->linger();
  });
}

}  // namespace asl::cli
