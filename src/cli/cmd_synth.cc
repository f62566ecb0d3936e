// asl synth
#include <CLI/CLI.hpp>

#include <memory>
#include <string>
#include <vector>

#include "cli/commands.h"
#include "core/error.h"

namespace asl::cli {

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

}  // namespace asl::cli
