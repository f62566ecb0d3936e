// asl synth
#include <CLI/CLI.hpp>

#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "cli/commands.h"
#include "core/error.h"
#include "data/synth.h"

namespace asl::cli {

void add_synth(CLI::App& app) {
  struct Args {
    std::string out, template_file, features = "egovlp:256,slowfast:2304,omnivore:1536,internvideo:1024";
    std::string write = "h5", dtype = "f16", task = "mq";
    int clips = 64, classes = 110, text_dim = 128, queries_per_clip = 6;
    uint64_t seed = 0;
    bool per_video = false;
  };
  auto a = std::make_shared<Args>();
  auto* sub = app.add_subcommand("synth", "synthetic Ego4D-shaped dataset with learnable labels");
  sub->add_option("--out", a->out, "output folder")->required();
  // Checked by synthesize(), which names the file in its one-line error.
  sub->add_option("--template", a->template_file,
                  "clip annotations whose clips (durations, segments, labels, subsets) are reused");
  sub->add_option("--clips", a->clips, "number of clips (with --template: a stratified subset)")
      ->capture_default_str()->check(CLI::PositiveNumber);
  sub->add_option("--classes", a->classes,
                  "number of classes (with --template: its most frequent labels)")
      ->capture_default_str()->check(CLI::PositiveNumber);
  sub->add_option("--features", a->features, "streams as NAME:DIM,...")->capture_default_str();
  sub->add_option("--seed", a->seed, "random seed")->capture_default_str();
  sub->add_option("--write", a->write, "h5 (a store), pt or npy (feature files)")
      ->capture_default_str()->check(CLI::IsMember({"h5", "pt", "npy"}));
  sub->add_flag("--per-video", a->per_video,
                "generate canonical videos; pt/npy: one file per video, h5: clips cut from them");
  sub->add_option("--dtype", a->dtype, "stored precision")->capture_default_str()
      ->check(CLI::IsMember({"f16", "f32"}));
  sub->add_option("--task", a->task,
                  "mq: clip annotations; nlq: the official NLQ files and each query's text features")
      ->capture_default_str()->check(CLI::IsMember({"mq", "nlq"}));
  sub->add_option("--text-dim", a->text_dim, "nlq: width of the query text tokens")
      ->capture_default_str()->check(CLI::Range(1, 65536));
  sub->add_option("--queries-per-clip", a->queries_per_clip,
                  "nlq: at most this many queries per clip (at least half as many when it has the instances)")
      ->capture_default_str()->check(CLI::PositiveNumber);
  sub->callback([a] {
    data::SynthOptions o;
    o.out_dir = a->out;
    o.template_path = a->template_file;
    o.clips = a->clips;
    o.classes = a->classes;
    o.streams = data::parse_streams(a->features);
    o.seed = a->seed;
    o.write = a->write;
    o.per_video = a->per_video;
    o.dtype = data::parse_dtype(a->dtype);
    o.task = a->task;
    o.text_dim = a->text_dim;
    o.queries_per_clip = a->queries_per_clip;
    const data::SynthReport report = data::synthesize(o);
    std::fputs(data::format_synth_report(report, o).c_str(), stdout);
  });
}

}  // namespace asl::cli
