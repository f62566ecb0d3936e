// asl pack
#include <CLI/CLI.hpp>

#include <memory>
#include <string>
#include <vector>

#include "cli/commands.h"
#include "core/error.h"

namespace asl::cli {

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

}  // namespace asl::cli
