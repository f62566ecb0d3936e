// `asl pack`: every clip of the annotations, every stream, checked and written atomically.
#include "data/pack.h"
#include "data/nlq.h"

#include <algorithm>
#include <cctype>
#include <chrono>
#include <filesystem>
#include <map>
#include <memory>
#include <unordered_set>

#include "core/error.h"
#include "core/strings.h"
#include "core/fs.h"
#include "core/progress.h"
#include "data/annotations.h"
#include "data/store.h"

namespace asl::data {
namespace {

namespace fs = std::filesystem;

const char* const kSpecSyntax = "NAME=DIR[:per-clip|per-video]";

bool valid_stream_name(const std::string& name) {
  if (name.empty()) return false;
  for (const unsigned char c : name) {
    if (!(std::isalnum(c) || c == '_' || c == '-' || c == '.')) return false;
  }
  return true;
}

// The feature file of `id` in `dir`: exactly one of id.pt, id.pth, id.npy must exist.
std::string find_feature_file(const FeatureSourceSpec& spec, const std::string& id,
                              const std::string& clip_id) {
  std::vector<std::string> found;
  for (const char* ext : {".pt", ".pth", ".npy"}) {
    const std::string p = (fs::path(spec.dir) / (id + ext)).string();
    if (path_exists(p)) found.push_back(p);
  }
  const std::string base = (fs::path(spec.dir) / id).string();
  if (found.empty()) {
    throw Error("clip " + clip_id + ", stream " + spec.name,
                std::string("no feature file ") + base + ".pt or " + base + ".npy",
                spec.per_video ? "per-video files are named by the clip's video_id"
                               : "per-clip files are named by clip id; for files named by "
                                 "video id use " + spec.name + "=" + spec.dir + ":per-video");
  }
  if (found.size() > 1) {
    throw Error("clip " + clip_id + ", stream " + spec.name,
                "several feature files for " + base + ": " + found[0] + " and " + found[1],
                "keep one of them");
  }
  return found[0];
}

// Reads feature files for one stream, keeping the last per-video file: clips of a video
// usually follow each other in the annotations.
class StreamSource {
 public:
  explicit StreamSource(FeatureSourceSpec spec) : spec_(std::move(spec)) {}

  const FeatureSourceSpec& spec() const { return spec_; }

  // The clip's features and the file they came from.
  FeatureMatrix load(const Clip& clip, std::string& file) {
    const std::string where = "clip " + clip.clip_id + ", stream " + spec_.name;
    if (!spec_.per_video) {
      file = find_feature_file(spec_, clip.clip_id, clip.clip_id);
      FeatureMatrix m = read_feature_file(file);
      check_finite(m, file + " (" + where + ")");
      return m;
    }
    if (clip.video_id.empty()) {
      throw Error(where, "the clip has no video_id, so its per-video features cannot be found",
                  "add video_id to the annotations or use per-clip features");
    }
    if (video_id_ != clip.video_id || video_file_.empty()) {
      video_file_.clear();
      const std::string path = find_feature_file(spec_, clip.video_id, clip.clip_id);
      video_ = read_feature_file(path);
      check_finite(video_, path + " (video " + clip.video_id + ", stream " + spec_.name + ")");
      video_id_ = clip.video_id;
      video_file_ = path;
    }
    file = video_file_;
    return cut_to_clip(video_, clip.parent_start_sec, clip.parent_end_sec, clip.fps,
                       where + " (" + file + ")");
  }

 private:
  FeatureSourceSpec spec_;
  std::string video_id_, video_file_;
  FeatureMatrix video_;
};

std::string describe_sources(const PackOptions& o) {
  std::string s = "asl pack of " + o.annotations + ":";
  for (const auto& f : o.features) {
    s += " " + f.name + "=" + f.dir + (f.per_video ? " (per-video)" : " (per-clip)");
  }
  if (!o.text_folder.empty()) s += "; query text features from " + o.text_folder;
  return s;
}

}  // namespace

FeatureSourceSpec parse_feature_spec(const std::string& spec) {
  const std::string where = "--feature " + spec;
  const size_t eq = spec.find('=');
  if (eq == std::string::npos) {
    throw Error(where, std::string("expected ") + kSpecSyntax,
                "e.g. --feature slowfast=features/slowfast:per-video");
  }
  FeatureSourceSpec out;
  out.name = spec.substr(0, eq);
  out.dir = spec.substr(eq + 1);
  if (!valid_stream_name(out.name)) {
    throw Error(where, "the stream name '" + out.name + "' must be letters, digits, '_', '-' or '.'",
                std::string("write ") + kSpecSyntax);
  }
  if (ends_with(out.dir, ":per-video")) {
    out.per_video = true;
    out.dir.resize(out.dir.size() - std::string(":per-video").size());
  } else if (ends_with(out.dir, ":per-clip")) {
    out.dir.resize(out.dir.size() - std::string(":per-clip").size());
  } else {
    const size_t colon = out.dir.rfind(':');
    if (colon != std::string::npos && out.dir.find('/', colon) == std::string::npos) {
      throw Error(where, "unknown file layout '" + out.dir.substr(colon + 1) + "'",
                  "use :per-clip or :per-video (a folder whose name has ':' needs one of them)");
    }
  }
  if (out.dir.empty()) {
    throw Error(where, "no folder given", std::string("write ") + kSpecSyntax);
  }
  return out;
}

std::vector<std::pair<std::string, std::string>> list_text_files(const std::string& folder) {
  const std::string where = "--text-folder " + folder;
  std::error_code ec;
  if (!fs::is_directory(folder, ec)) {
    throw Error(where, "the folder does not exist", "check the path of the query text features");
  }
  std::map<std::string, std::string> by_key;
  fs::directory_iterator it(folder, ec);
  if (ec) throw Error(where, "cannot list the folder: " + ec.message(), "check its permissions");
  for (; it != fs::directory_iterator(); it.increment(ec)) {
    if (ec) throw Error(where, "cannot list the folder: " + ec.message(), "check its permissions");
    const std::string name = it->path().filename().string();
    std::string key;
    for (const char* ext : {".pt", ".npy"}) {
      if (ends_with(name, ext)) key = name.substr(0, name.size() - std::string(ext).size());
    }
    std::error_code type_ec;
    if (key.empty() || name[0] == '.' || !it->is_regular_file(type_ec)) continue;
    const std::string file = it->path().string();
    const auto [pos, inserted] = by_key.emplace(key, file);
    if (!inserted) {
      const auto& [a, b] = std::minmax(pos->second, file);
      throw Error(where, "query " + key + " has two text feature files: " + a + " and " + b,
                  "keep one of them");
    }
  }
  if (by_key.empty()) {
    throw Error(where, "the folder has no query text features (<key>.pt or <key>.npy files)",
                "extract them, or check the folder");
  }
  return {by_key.begin(), by_key.end()};
}

PackReport pack_store(const PackOptions& options) {
  const auto start = std::chrono::steady_clock::now();
  if (options.features.empty()) {
    throw Error(options.out, "no feature streams to pack", std::string("give --feature ") + kSpecSyntax);
  }
  std::unordered_set<std::string> names;
  std::vector<StreamSource> sources;
  for (const auto& f : options.features) {
    if (!names.insert(f.name).second) {
      throw Error("--feature " + f.name, "stream given twice", "give each stream once");
    }
    if (!fs::is_directory(f.dir)) {
      throw Error("--feature " + f.name + "=" + f.dir, "the folder does not exist",
                  "check the path of the feature files");
    }
    sources.emplace_back(f);
  }
  // Listed before the clips are packed, so that a bad folder stops the pack at once.
  std::vector<std::pair<std::string, std::string>> text_files;
  if (!options.text_folder.empty()) text_files = list_text_files(options.text_folder);
  const bool nlq = is_nlq_query_file(options.annotations);
  for (const auto& f : options.features) {
    if (nlq && f.per_video) {
      throw Error("--feature " + f.name, "per-video files cannot be cut with a query list, which "
                                         "does not hold the clips' places in their videos",
                  "pack per-clip feature files (named by clip_uid) for NLQ");
    }
  }
  const ClipAnnotations annotations = nlq ? nlq_feature_clips(read_nlq_queries(options.annotations))
                                          : read_clip_annotations(options.annotations);
  if (annotations.clips.empty()) {
    throw Error(options.annotations, "has no clips", "pack needs at least one annotated clip");
  }

  // The first clip fixes each stream's dimension; every later clip must match it.
  std::vector<StreamInfo> streams;
  std::unique_ptr<StoreWriter> writer;
  Progress progress("pack", static_cast<int64_t>(annotations.clips.size()), "clips");
  for (const Clip& clip : annotations.clips) {
    std::vector<FeatureMatrix> per_stream;
    for (size_t s = 0; s < sources.size(); ++s) {
      std::string file;
      FeatureMatrix m = sources[s].load(clip, file);
      const std::string& name = sources[s].spec().name;
      if (m.rows == 0) {
        throw Error(file, "clip " + clip.clip_id + ", stream " + name + ": no feature rows",
                    "re-extract the features");
      }
      if (!writer) {
        streams.push_back({name, m.cols});
      } else if (m.cols != streams[s].dim) {
        throw Error(file, "clip " + clip.clip_id + ", stream " + name + ": features have " +
                              std::to_string(m.cols) + " channels, expected " +
                              std::to_string(streams[s].dim) + " (as in clip " +
                              annotations.clips.front().clip_id + ")",
                    "every clip of a stream needs features of the same dimension");
      }
      per_stream.push_back(std::move(m));
    }
    if (!writer) {
      writer = std::make_unique<StoreWriter>(options.out, streams, options.dtype,
                                             describe_sources(options), options.shards);
    }
    writer->write_clip(clip.clip_id, per_stream);
    progress.advance();
  }
  progress.finish();

  // Query text features: the first file fixes the dimension (the writer names a later query
  // with another one; the message here adds the file).
  PackReport report;
  if (!text_files.empty()) {
    Progress text_progress("pack text", static_cast<int64_t>(text_files.size()), "queries");
    for (const auto& [key, file] : text_files) {
      const FeatureMatrix m = read_feature_file(file);
      check_finite(m, file + " (query " + key + ")");
      if (report.text_dim > 0 && m.cols != report.text_dim) {
        throw Error(file, "query " + key + ": text features have " + std::to_string(m.cols) +
                              " channels, expected " + std::to_string(report.text_dim) +
                              " (as in query " + text_files.front().first + ")",
                    "every query's text features need the same dimension");
      }
      if (m.rows == 0) {
        throw Error(file, "query " + key + ": no tokens (0 x " + std::to_string(m.cols) + ")",
                    "re-extract the text features");
      }
      writer->write_text(key, m);
      report.text_dim = m.cols;
      ++report.texts;
      text_progress.advance();
    }
    text_progress.finish();
  }
  writer->commit();

  report.clips = static_cast<int64_t>(annotations.clips.size());
  for (const auto& f : StoreReader(options.out).files()) {
    std::error_code ec;
    const auto n = fs::file_size(f, ec);
    if (!ec) report.bytes += static_cast<int64_t>(n);
  }
  report.seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return report;
}

}  // namespace asl::data
