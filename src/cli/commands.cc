#include "cli/commands.h"

#include <CLI/CLI.hpp>

#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include "core/config.h"
#include "core/error.h"

namespace asl::cli {
namespace {

// Options shared by the commands that read a config.
struct ConfigArgs {
  std::string config;
  std::vector<std::string> overrides;
};

void add_config_args(CLI::App* sub, ConfigArgs& a) {
  sub->add_option("CONFIG", a.config, "YAML config (see configs/)")->required()->check(
      CLI::ExistingFile);
  sub->add_option("--set", a.overrides, "override a key: --set key.path=value (repeatable)")
      ->allow_extra_args(false);
}

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

}  // namespace

void add_convert(CLI::App& app) {
  struct Args {
    std::vector<std::string> moments;
    std::string metadata, out, label_map;
    double feature_fps = 1.875;
  };
  auto a = std::make_shared<Args>();
  auto* sub = app.add_subcommand("convert", "official Ego4D moments_*.json -> clip annotations");
  sub->add_option("--moments", a->moments, "official moments_*.json (repeatable)")
      ->required()->check(CLI::ExistingFile)->allow_extra_args(false);
  sub->add_option("--metadata", a->metadata, "ego4d.json video metadata")->check(CLI::ExistingFile);
  sub->add_option("--feature-fps", a->feature_fps, "feature rate in features per second")
      ->capture_default_str()->check(CLI::PositiveNumber);
  sub->add_option("--label-map", a->label_map, "label order file (default: built-in Ego4D MQ v1)")
      ->check(CLI::ExistingFile);
  sub->add_option("--out", a->out, "clip annotations JSON to write")->required();
  sub->callback([a] { throw NotImplemented("convert"); });
}

void add_synth(CLI::App& app) {
  struct Args {
    std::string out, template_file, features = "egovlp:256,slowfast:2304,omnivore:1536,internvideo:1024";
    std::string write = "h5";
    int clips = 64, classes = 110;
    uint64_t seed = 0;
  };
  auto a = std::make_shared<Args>();
  auto* sub = app.add_subcommand("synth", "synthetic Ego4D-shaped dataset with learnable labels");
  sub->add_option("--out", a->out, "output folder")->required();
  sub->add_option("--template", a->template_file, "clip annotations whose clips are reused")
      ->check(CLI::ExistingFile);
  sub->add_option("--clips", a->clips, "number of clips")->capture_default_str()
      ->check(CLI::PositiveNumber);
  sub->add_option("--classes", a->classes, "number of classes")->capture_default_str()
      ->check(CLI::PositiveNumber);
  sub->add_option("--features", a->features, "streams as NAME:DIM,...")->capture_default_str();
  sub->add_option("--seed", a->seed, "random seed")->capture_default_str();
  sub->add_option("--write", a->write, "h5 (a store), pt or npy (per-clip files)")
      ->capture_default_str()->check(CLI::IsMember({"h5", "pt", "npy"}));
  sub->callback([a] { throw NotImplemented("synth"); });
}

void add_pack(CLI::App& app) {
  struct Args {
    std::string annotations, out, dtype = "f16";
    std::vector<std::string> features;
    int shards = 1;
  };
  auto a = std::make_shared<Args>();
  auto* sub = app.add_subcommand("pack", "pack feature files into the HDF5 feature store");
  sub->add_option("--annotations", a->annotations, "clip annotations JSON")->required()
      ->check(CLI::ExistingFile);
  sub->add_option("--feature", a->features, "NAME=DIR[:per-clip|per-video] (repeatable)")
      ->required()->allow_extra_args(false);
  sub->add_option("--out", a->out, "store file to write")->required();
  sub->add_option("--dtype", a->dtype, "stored precision")->capture_default_str()
      ->check(CLI::IsMember({"f16", "f32"}));
  sub->add_option("--shards", a->shards, "split the store into K files")->capture_default_str()
      ->check(CLI::PositiveNumber);
  sub->callback([a] { throw NotImplemented("pack"); });
}

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
      if (a->params) throw NotImplemented("inspect --params");
      std::cout << config::to_yaml(cfg);
      return;
    }
    if (!a->overrides.empty()) {
      throw Error(a->path, "--set applies to configs only");
    }
    throw NotImplemented("inspect of stores, annotations, checkpoints and predictions");
  });
}

void add_train(CLI::App& app) {
  struct Args {
    ConfigArgs cfg;
    std::string output, resume, init;
  };
  auto a = std::make_shared<Args>();
  auto* sub = app.add_subcommand("train", "train ASL (under mpirun: data-parallel)");
  add_config_args(sub, a->cfg);
  sub->add_option("--output", a->output, "output folder (default: output_folder/CONFIG-name)");
  sub->add_option("--resume", a->resume, "auto (newest complete checkpoint) or a checkpoint path");
  sub->add_option("--init", a->init, "start from these weights (fine-tuning, imported weights)")
      ->check(CLI::ExistingFile);
  sub->callback([a] {
    config::load_config(a->cfg.config, a->cfg.overrides);  // bad configs fail first
    throw NotImplemented("train");
  });
}

void add_eval(CLI::App& app) {
  struct Args {
    ConfigArgs cfg;
    std::string ckpt, split = "val", out, json;
  };
  auto a = std::make_shared<Args>();
  auto* sub = app.add_subcommand("eval", "infer a split and score it (metrics table)");
  add_config_args(sub, a->cfg);
  sub->add_option("CKPT", a->ckpt, "checkpoint")->required()->check(CLI::ExistingFile);
  sub->add_option("--split", a->split, "split to evaluate")->capture_default_str();
  sub->add_option("--out", a->out, "prediction file to write");
  sub->add_option("--json", a->json, "metrics JSON to write");
  sub->callback([a] {
    config::load_config(a->cfg.config, a->cfg.overrides);
    throw NotImplemented("eval");
  });
}

void add_infer(CLI::App& app) {
  struct Args {
    ConfigArgs cfg;
    std::string ckpt, split = "test", out;
  };
  auto a = std::make_shared<Args>();
  auto* sub = app.add_subcommand("infer", "write the challenge submission for a split");
  add_config_args(sub, a->cfg);
  sub->add_option("CKPT", a->ckpt, "checkpoint")->required()->check(CLI::ExistingFile);
  sub->add_option("--split", a->split, "split to infer")->capture_default_str();
  sub->add_option("--out", a->out, "submission JSON to write")->required();
  sub->callback([a] {
    config::load_config(a->cfg.config, a->cfg.overrides);
    throw NotImplemented("infer");
  });
}

void add_score(CLI::App& app) {
  struct Args {
    std::string gt, pred, split = "val", json;
    int threads = 0;
  };
  auto a = std::make_shared<Args>();
  auto* sub = app.add_subcommand("score", "official Ego4D MQ metrics (mAP, Recall@kx)");
  sub->add_option("--gt", a->gt, "clip annotations JSON")->required()->check(CLI::ExistingFile);
  sub->add_option("--pred", a->pred, "prediction or submission JSON")->required()
      ->check(CLI::ExistingFile);
  sub->add_option("--split", a->split, "split of the ground truth")->capture_default_str();
  sub->add_option("--json", a->json, "metrics JSON to write");
  sub->add_option("--threads", a->threads, "worker threads (0: all cores)")->capture_default_str();
  sub->callback([a] { throw NotImplemented("score"); });
}

void add_import(CLI::App& app) {
  struct Args {
    std::string checkpoint, config, out;
  };
  auto a = std::make_shared<Args>();
  auto* sub = app.add_subcommand("import", "reference PyTorch checkpoint -> native checkpoint");
  sub->add_option("PYTORCH_CHECKPOINT", a->checkpoint, "reference checkpoint (.pth.tar)")
      ->required()->check(CLI::ExistingFile);
  sub->add_option("--config", a->config, "config of the model it belongs to")->required()
      ->check(CLI::ExistingFile);
  sub->add_option("--out", a->out, "native checkpoint to write")->required();
  sub->callback([a] {
    config::load_config(a->config);
    throw NotImplemented("import");
  });
}

void add_bench(CLI::App& app) {
  struct Args {
    std::string config, what, json;
    int repeat = 5;
  };
  auto a = std::make_shared<Args>();
  auto* sub = app.add_subcommand("bench", "benchmarks (medians against a baseline in the same run)");
  sub->add_option("CONFIG", a->config, "YAML config (train, infer)")->check(CLI::ExistingFile);
  sub->add_option("--what", a->what, "what to measure")->required()
      ->check(CLI::IsMember({"train", "infer", "nms", "score", "load", "allreduce"}));
  sub->add_option("--json", a->json, "results JSON to write");
  sub->add_option("--repeat", a->repeat, "repetitions (the median is reported)")
      ->capture_default_str()->check(CLI::PositiveNumber);
  sub->callback([a] { throw NotImplemented("bench --what " + a->what); });
}

}  // namespace asl::cli
