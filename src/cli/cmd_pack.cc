// asl pack
#include <CLI/CLI.hpp>

#include <cstdio>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "cli/commands.h"
#include "core/error.h"
#include "data/pack.h"
#include "data/store.h"

namespace asl::cli {

void add_pack(CLI::App& app) {
  struct Args {
    std::string annotations, out, dtype = "f16", text_folder;
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
  sub->add_option("--text-folder", a->text_folder,
                  "query text features: every <key>.pt / <key>.npy file goes to the text group");
  sub->callback([a] {
    data::PackOptions o;
    o.annotations = a->annotations;
    for (const auto& spec : a->features) o.features.push_back(data::parse_feature_spec(spec));
    o.out = a->out;
    o.dtype = data::parse_dtype(a->dtype);
    o.shards = a->shards;
    o.text_folder = a->text_folder;
    const data::PackReport report = data::pack_store(o);

    const data::StoreInfo info = data::StoreReader(o.out).info();
    std::ostringstream s;
    s << "packed " << report.clips << " clips into " << o.out << " (" << a->dtype << ", "
      << info.num_shards << (info.num_shards == 1 ? " file" : " shards") << ")\n";
    s << "streams: ";
    for (size_t i = 0; i < info.streams.size(); ++i) {
      s << (i ? ", " : "") << info.streams[i].name << " " << info.streams[i].dim;
    }
    if (report.texts > 0) {
      s << "\nquery texts: " << report.texts << " (" << report.text_dim << " dims)";
    }
    const double mib = static_cast<double>(report.bytes) / (1 << 20);
    char tail[128];
    std::snprintf(tail, sizeof tail, "\nsize: %.*f MiB, time: %.2f s\n", mib < 10 ? 2 : 1, mib,
                  report.seconds);
    s << tail;
    std::fputs(s.str().c_str(), stdout);
  });
}

}  // namespace asl::cli
