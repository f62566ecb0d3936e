// The CONFIG argument and --set overrides shared by the commands that read a config.
#pragma once

#include <CLI/CLI.hpp>

#include <string>
#include <vector>

namespace asl::cli {

struct ConfigArgs {
  std::string config;
  std::vector<std::string> overrides;
};

inline void add_config_args(CLI::App* sub, ConfigArgs& a) {
  sub->add_option("CONFIG", a.config, "YAML config (see configs/)")->required()->check(
      CLI::ExistingFile);
  sub->add_option("--set", a.overrides, "override a key: --set key.path=value (repeatable)")
      ->allow_extra_args(false);
}

}  // namespace asl::cli
