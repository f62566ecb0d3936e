// `asl synth`: the layout and the generator written out as a dataset: clip annotations
// plus an HDF5 store or one feature file per clip or canonical video and stream. Options
// are checked before anything is created, the annotations are written last, and a failure
// removes what this run wrote, so an interrupted run never looks like a dataset.
#include "data/synth.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <map>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "core/error.h"
#include "core/fs.h"
#include "core/progress.h"
#include "core/strings.h"
#include "data/nlq.h"

namespace asl::data {
namespace {

// Files and folders this run created; removed unless the run finishes.
class Cleanup {
 public:
  ~Cleanup() {
    if (done_) return;
    std::error_code ec;
    for (auto it = files_.rbegin(); it != files_.rend(); ++it) std::filesystem::remove(*it, ec);
    for (auto it = dirs_.rbegin(); it != dirs_.rend(); ++it) std::filesystem::remove(*it, ec);  // only if empty
  }
  void make_dir(const std::string& path) {
    std::vector<std::string> created;
    for (auto p = std::filesystem::path(path); !p.empty() && !path_exists(p.string());
         p = p.parent_path()) {
      created.push_back(p.string());
      if (p == p.parent_path()) break;
    }
    make_dirs(path);
    dirs_.insert(dirs_.end(), created.rbegin(), created.rend());
  }
  void file(const std::string& path) { files_.push_back(path); }
  void finish() { done_ = true; }

 private:
  std::vector<std::string> files_, dirs_;
  bool done_ = false;
};

void validate(const SynthOptions& o) {
  if (o.out_dir.empty()) throw Error("--out", "no output folder given", "give --out DIR");
  if (path_exists(o.out_dir) && !std::filesystem::is_directory(o.out_dir)) {
    throw Error(o.out_dir, "exists and is not a folder", "choose another --out");
  }
  if (o.streams.empty()) throw Error("--features", "no streams given", "give NAME:DIM,...");
  if (o.write != "h5" && o.write != "pt" && o.write != "npy") {
    throw Error("--write", "unknown write mode '" + o.write + "'", "use h5, pt or npy");
  }
  if (o.clips < 1) throw Error("--clips", "must be at least 1");
  if (o.classes < 1) throw Error("--classes", "must be at least 1");
  if (!(o.feature_fps > 0)) throw Error("synth", "the feature rate must be positive");
  if (!o.template_path.empty() && !std::filesystem::is_regular_file(o.template_path)) {
    throw Error(o.template_path, "template not found", "give an existing clip-annotation file to --template");
  }
  if (o.task != "mq" && o.task != "nlq") {
    throw Error("--task", "unknown task '" + o.task + "'", "use mq or nlq");
  }
  if (o.task == "nlq") {
    if (o.text_dim < 1 || o.text_dim > 65536) {
      throw Error("--text-dim", "must be between 1 and 65536, found " + std::to_string(o.text_dim));
    }
    if (o.queries_per_clip < 1) throw Error("--queries-per-clip", "must be at least 1");
  }
}

// Clips grouped by canonical video, in order of first appearance.
std::vector<std::vector<const Clip*>> group_by_video(const ClipAnnotations& a) {
  std::vector<std::vector<const Clip*>> videos;
  std::map<std::string, size_t> index;
  for (const Clip& c : a.clips) {
    const auto [it, added] = index.emplace(c.video_id, videos.size());
    if (added) videos.emplace_back();
    videos[it->second].push_back(&c);
  }
  return videos;
}

// A video's timeline: its duration (at least to its clips' ends) and the instances its
// clips show, moved from clip time to video time.
struct VideoTimeline {
  double duration = 0;
  std::vector<Segment> instances;
};

VideoTimeline video_timeline(const std::vector<const Clip*>& clips, int64_t classes,
                             uint64_t seed) {
  VideoTimeline v;
  for (const Clip* c : clips) {
    v.duration = std::max({v.duration, c->v_duration, c->parent_end_sec});
    for (Segment s : synth_shown_segments(*c, classes, seed)) {
      s.start += c->parent_start_sec;
      s.end += c->parent_start_sec;
      v.instances.push_back(std::move(s));
    }
  }
  return v;
}

class FeatureSink {
 public:
  virtual ~FeatureSink() = default;
  virtual void put(const std::string& name, const std::vector<FeatureMatrix>& per_stream) = 0;
  // One query's text features (NLQ).
  virtual void put_text(const std::string& key, const FeatureMatrix& tokens) = 0;
  virtual void commit() {}
};

class StoreSink : public FeatureSink {
 public:
  StoreSink(const std::string& path, const SynthOptions& o)
      : writer_(path, o.streams, o.dtype,
                "asl synth seed " + std::to_string(o.seed) +
                    (o.template_path.empty() ? "" : " template " +
                        std::filesystem::path(o.template_path).filename().string())) {}
  void put(const std::string& clip_id, const std::vector<FeatureMatrix>& m) override {
    writer_.write_clip(clip_id, m);
  }
  void put_text(const std::string& key, const FeatureMatrix& tokens) override {
    writer_.write_text(key, tokens);
  }
  void commit() override { writer_.commit(); }

 private:
  StoreWriter writer_;
};

class FileSink : public FeatureSink {
 public:
  FileSink(const SynthOptions& o, Cleanup& cleanup) : o_(o), cleanup_(cleanup) {}
  void put(const std::string& name, const std::vector<FeatureMatrix>& m) override {
    for (size_t s = 0; s < o_.streams.size(); ++s) {
      const std::string path =
          join_path(join_path(o_.out_dir, o_.streams[s].name), name + "." + o_.write);
      if (o_.write == "pt") {
        write_pt(path, m[s], o_.dtype);
      } else {
        write_npy(path, m[s], o_.dtype);
      }
      cleanup_.file(path);  // only once written: a failed write is atomic and leaves nothing
    }
  }
  void put_text(const std::string& key, const FeatureMatrix& tokens) override {
    const std::string path = join_path(join_path(o_.out_dir, "text"), key + "." + o_.write);
    if (o_.write == "pt") {
      write_pt(path, tokens, o_.dtype);
    } else {
      write_npy(path, tokens, o_.dtype);
    }
    cleanup_.file(path);
  }

 private:
  const SynthOptions& o_;
  Cleanup& cleanup_;
};

}  // namespace

SynthReport synthesize(const SynthOptions& options) {
  const auto started = std::chrono::steady_clock::now();
  validate(options);
  const SynthOptions& o = options;

  ClipAnnotations layout;
  if (o.template_path.empty()) {
    layout = draw_synth_clips(o.clips, o.classes, o.seed, o.feature_fps);
  } else {
    layout = select_template_clips(read_clip_annotations(o.template_path), o.clips, o.classes,
                                   o.seed, o.feature_fps, o.template_path);
    if (layout.clips.empty()) {
      throw Error(o.template_path, "no clip is left with the chosen classes",
                  "choose more --classes");
    }
  }
  const SynthGenerator generator(o.streams, o.classes, o.seed);
  const auto videos = group_by_video(layout);

  SynthReport report;
  report.clips = static_cast<int64_t>(layout.clips.size());
  report.classes = o.classes;
  report.videos = static_cast<int64_t>(videos.size());
  for (const Clip& c : layout.clips) {
    ++report.clips_per_subset[c.subset];
    report.instances += static_cast<int64_t>(c.annotations.size());
  }
  const bool nlq = o.task == "nlq";
  if (!nlq) report.annotations_path = join_path(o.out_dir, "clip_annotations.json");

  // NLQ: the queries of every clip, on the instances its features show.
  std::vector<std::vector<SynthNlqQuery>> queries;
  std::vector<std::string> subsets;  // in order of first appearance
  if (nlq) {
    for (const Clip& c : layout.clips) {
      queries.push_back(draw_synth_queries(c, o.classes, o.seed, o.queries_per_clip));
      report.queries += static_cast<int64_t>(queries.back().size());
      report.queries_per_subset[c.subset] += static_cast<int64_t>(queries.back().size());
      if (std::find(subsets.begin(), subsets.end(), c.subset) == subsets.end()) subsets.push_back(c.subset);
    }
    for (const std::string& subset : subsets) {
      report.nlq_files.push_back(join_path(o.out_dir, synth_nlq_file_name(subset)));
    }
  }

  Cleanup cleanup;
  cleanup.make_dir(o.out_dir);
  std::unique_ptr<FeatureSink> sink;
  if (o.write == "h5") {
    const std::string store = join_path(o.out_dir, "features.h5");
    report.outputs.push_back(store);
    report.feature_files = 1;
    sink = std::make_unique<StoreSink>(store, o);
  } else {
    for (const StreamInfo& s : o.streams) {
      const std::string dir = join_path(o.out_dir, s.name);
      cleanup.make_dir(dir);
      report.outputs.push_back(dir);
    }
    report.feature_files = o.per_video ? report.videos : report.clips;
    if (nlq) cleanup.make_dir(join_path(o.out_dir, "text"));
    sink = std::make_unique<FileSink>(o, cleanup);
  }

  if (o.per_video) {
    // Generate each canonical video once; its clips are cuts of it (the store holds the
    // cuts, the feature files the whole videos for `asl pack ...:per-video`).
    Progress progress("synth", report.videos, "videos");
    for (const auto& clips : videos) {
      const VideoTimeline v = video_timeline(clips, o.classes, o.seed);
      const std::string& video_id = clips.front()->video_id;
      const std::vector<FeatureMatrix> features = generator.render(
          video_id, synth_rows(v.duration, o.feature_fps), o.feature_fps, v.instances);
      if (o.write == "h5") {
        for (const Clip* c : clips) {
          std::vector<FeatureMatrix> cut;
          for (const FeatureMatrix& m : features) {
            cut.push_back(cut_to_clip(m, c->parent_start_sec, c->parent_end_sec, o.feature_fps,
                                      c->clip_id));
          }
          sink->put(c->clip_id, cut);
        }
      } else {
        sink->put(video_id, features);
      }
      progress.advance();
    }
    progress.finish();
  } else {
    Progress progress("synth", report.clips, "clips");
    for (const Clip& c : layout.clips) {
      sink->put(c.clip_id, generator.render(c.clip_id, synth_rows(c.duration, o.feature_fps),
                                            o.feature_fps,
                                            synth_shown_segments(c, o.classes, o.seed)));
      progress.advance();
    }
    progress.finish();
  }
  if (nlq) {
    const SynthTextGenerator text(o.text_dim, o.classes, o.seed);
    for (size_t i = 0; i < layout.clips.size(); ++i) {
      for (const SynthNlqQuery& q : queries[i]) {
        const std::string key = nlq_query_key(layout.clips[i].clip_id, q.annotation_uid, q.query_idx);
        sink->put_text(key, text.render(key, q.label_id));
      }
    }
  }
  sink->commit();
  if (o.write == "h5") cleanup.file(report.outputs.front());
  if (nlq) {
    for (size_t k = 0; k < subsets.size(); ++k) {
      write_file_atomic(report.nlq_files[k], synth_nlq_json(layout, queries, subsets[k], o.seed));
      cleanup.file(report.nlq_files[k]);
    }
  } else {
    write_clip_annotations(layout, report.annotations_path);
  }
  cleanup.finish();
  report.seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  return report;
}

std::string format_synth_report(const SynthReport& r, const SynthOptions& o) {
  std::ostringstream s;
  std::vector<std::string> subsets;
  for (const char* known : {"train", "val", "test"}) {
    const auto it = r.clips_per_subset.find(known);
    if (it != r.clips_per_subset.end()) subsets.push_back(std::to_string(it->second) + " " + known);
  }
  for (const auto& [name, n] : r.clips_per_subset) {
    if (name != "train" && name != "val" && name != "test") subsets.push_back(std::to_string(n) + " " + name);
  }
  std::vector<std::string> streams;
  for (const StreamInfo& st : o.streams) streams.push_back(st.name + ":" + std::to_string(st.dim));
  s << "synth: " << r.clips << " clips (" << join(subsets, ", ") << ") from " << r.videos
    << " videos, " << r.instances << " instances, " << r.classes << " classes, seed " << o.seed
    << (o.template_path.empty() ? ", drawn layout" : ", layout of " + o.template_path) << "\n";
  s << "  streams " << join(streams, " ") << ", " << dtype_name(o.dtype) << ", ";
  if (o.write == "h5") {
    s << "store " << r.outputs.front() << (o.per_video ? " (clips cut from videos)" : "");
  } else {
    s << r.feature_files << " ." << o.write << " files per stream ("
      << (o.per_video ? "per video" : "per clip") << ") in " << join(r.outputs, ", ");
  }
  if (o.task == "nlq") {
    std::vector<std::string> per_subset;
    for (const char* known : {"train", "val", "test"}) {
      const auto it = r.queries_per_subset.find(known);
      if (it != r.queries_per_subset.end()) per_subset.push_back(std::to_string(it->second) + " " + known);
    }
    for (const auto& [name, n] : r.queries_per_subset) {
      if (name != "train" && name != "val" && name != "test") per_subset.push_back(std::to_string(n) + " " + name);
    }
    s << "\n  " << r.queries << " queries (" << join(per_subset, ", ") << "), text tokens of "
      << o.text_dim << " in " << (o.write == "h5" ? "the store's text/" : join_path(o.out_dir, "text"));
    s << "\n  NLQ files " << join(r.nlq_files, ", ");
  } else {
    s << "\n  annotations " << r.annotations_path;
  }
  char seconds[32];
  std::snprintf(seconds, sizeof seconds, " (%.1f s)", r.seconds);
  s << seconds << "\n";
  return s.str();
}

}  // namespace asl::data
