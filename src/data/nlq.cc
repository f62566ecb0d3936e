#include "data/nlq.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <limits>
#include <map>
#include <set>
#include <sstream>
#include <unordered_set>
#include <unordered_map>
#include <utility>

#include "core/error.h"
#include "core/fs.h"
#include "core/progress.h"
#include "core/strings.h"
#include "data/json_reader.h"

namespace asl::data {
namespace {

using json_reader::Json;
using json_reader::JsonPath;

constexpr int64_t kQueryListVersion = 1;

bool blank(const std::string& s) {
  return std::all_of(s.begin(), s.end(),
                     [](char c) { return std::isspace(static_cast<unsigned char>(c)); });
}

// A string field that may be missing or null (template, slot_x, verb_x of the real data).
std::string optional_text(const Json& object, const char* name, const JsonPath& at) {
  const Json* value = json_reader::optional_member(object, name);
  if (value == nullptr || value->is_null()) return "";
  return json_reader::as_string(*value, at.key(name));
}

std::string seconds(double v) {
  char buffer[32];
  std::snprintf(buffer, sizeof buffer, "%.1f s", v);
  return buffer;
}

// ---- the official files -------------------------------------------------------------------

struct NlqFile {
  std::string subset;
  std::string path;
};

bool subset_word(const std::string& s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-';
  });
}

// "SUBSET=PATH", or PATH whose file name says train, val or test.
NlqFile parse_file_arg(const std::string& arg) {
  const auto eq = arg.find('=');
  if (eq != std::string::npos && subset_word(arg.substr(0, eq)) && eq + 1 < arg.size()) {
    return {arg.substr(0, eq), arg.substr(eq + 1)};
  }
  const std::string name = lower_ascii(last_path_component(arg));
  std::vector<std::string> found;
  for (const char* subset : {"train", "val", "test"}) {
    if (name.find(subset) != std::string::npos) found.emplace_back(subset);
  }
  if (found.size() != 1) {
    throw Error(arg,
                found.empty() ? "the file name says neither train, val nor test"
                              : "the file name says both " + join(found, " and "),
                "name the subset: SUBSET=PATH, e.g. val=" + arg);
  }
  return {found.front(), arg};
}

// Collects the queries of all files in file order.
class Converter {
 public:
  explicit Converter(const NlqConvertOptions& options) : options_(options) {}

  void add_file(const NlqFile& file) {
    const Json root = json_reader::parse_json(read_file(file.path), file.path);
    const JsonPath at(file.path);
    json_reader::as_object(root, at);
    const JsonPath videos_at = at.key("videos");
    const Json& videos = json_reader::as_array(json_reader::member(root, "videos", at), videos_at);
    Progress progress("convert", static_cast<int64_t>(videos.size()), "videos");
    for (std::size_t i = 0; i < videos.size(); ++i) {
      add_video(videos[i], file, videos_at.index(i));
      progress.advance();
    }
    progress.finish();
  }

  NlqConvertReport finish() { return std::move(report_); }

 private:
  void add_video(const Json& video, const NlqFile& file, const JsonPath& at) {
    json_reader::as_object(video, at);
    const std::string& video_uid =
        json_reader::as_string(json_reader::member(video, "video_uid", at), at.key("video_uid"));
    if (video_uid.empty()) at.key("video_uid").fail("is empty");
    const JsonPath clips_at = at.key("clips");
    const Json& clips = json_reader::as_array(json_reader::member(video, "clips", at), clips_at);
    for (std::size_t j = 0; j < clips.size(); ++j) {
      const JsonPath clip_at = clips_at.index(j);
      json_reader::as_object(clips[j], clip_at);
      const std::string& uid = json_reader::as_string(
          json_reader::member(clips[j], "clip_uid", clip_at), clip_at.key("clip_uid"));
      if (uid.empty()) clip_at.key("clip_uid").fail("is empty");
      add_clip(clips[j], uid, video_uid, file, JsonPath(file.path).in_clip(uid));
    }
  }

  // The clip's length: clip_end_sec - clip_start_sec (the clip's own time axis, on which the
  // queries' clip_start_sec / clip_end_sec lie); video_end_sec - video_start_sec when a file
  // has no clip_* times.
  static double clip_duration(const Json& clip, const JsonPath& at) {
    const bool own = json_reader::optional_member(clip, "clip_start_sec") != nullptr ||
                     json_reader::optional_member(clip, "clip_end_sec") != nullptr;
    const char* start_key = own ? "clip_start_sec" : "video_start_sec";
    const char* end_key = own ? "clip_end_sec" : "video_end_sec";
    const double start =
        json_reader::as_number(json_reader::member(clip, start_key, at), at.key(start_key));
    const double end =
        json_reader::as_number(json_reader::member(clip, end_key, at), at.key(end_key));
    if (!(end > start)) {
      at.key(end_key).fail(json_reader::number_text(end) + " is not after " + start_key + " " +
                           json_reader::number_text(start));
    }
    return end - start;
  }

  void add_clip(const Json& clip, const std::string& clip_uid, const std::string& video_uid,
                const NlqFile& file, const JsonPath& at) {
    const double duration = clip_duration(clip, at);
    const Json* annotations = json_reader::optional_member(clip, "annotations");
    if (annotations == nullptr) return;
    const JsonPath list_at = at.key("annotations");
    json_reader::as_array(*annotations, list_at);
    for (std::size_t k = 0; k < annotations->size(); ++k) {
      const JsonPath ann_at = list_at.index(k);
      const Json& annotation = json_reader::as_object((*annotations)[k], ann_at);
      const std::string& annotation_uid = json_reader::as_string(
          json_reader::member(annotation, "annotation_uid", ann_at), ann_at.key("annotation_uid"));
      if (annotation_uid.empty()) ann_at.key("annotation_uid").fail("is empty");
      // Query errors name the clip and the annotation: "clip C, annotation A: language_queries[2]".
      const JsonPath in_ann(file.path, clip_uid + ", annotation " + annotation_uid);
      const JsonPath queries_at = in_ann.key("language_queries");
      const Json& queries = json_reader::as_array(
          json_reader::member(annotation, "language_queries", in_ann), queries_at);
      for (std::size_t q = 0; q < queries.size(); ++q) {
        NlqQuery query;
        query.clip_uid = clip_uid;
        query.annotation_uid = annotation_uid;
        query.query_idx = static_cast<int64_t>(q);  // the official index, also when others drop
        query.video_uid = video_uid;
        query.subset = file.subset;
        query.duration = duration;
        query.fps = options_.feature_fps;
        add_query(queries[q], std::move(query), file, queries_at.index(q));
      }
    }
  }

  void add_query(const Json& entry, NlqQuery q, const NlqFile& file, const JsonPath& at) {
    json_reader::as_object(entry, at);
    // The baseline skips a query whose text is missing or empty, in every split.
    const Json* text = json_reader::optional_member(entry, "query");
    if (text == nullptr || text->is_null() ||
        blank(json_reader::as_string(*text, at.key("query")))) {
      ++report_.dropped_no_text;
      return;
    }
    q.query = text->get<std::string>();
    q.template_name = optional_text(entry, "template", at);
    q.slot_x = optional_text(entry, "slot_x", at);
    q.verb_x = optional_text(entry, "verb_x", at);
    // Test queries carry no answer, whatever the file holds (as the baseline).
    if (!is_test_subset(q.subset)) {
      q.start = json_reader::as_number(json_reader::member(entry, "clip_start_sec", at),
                                       at.key("clip_start_sec"));
      q.end = json_reader::as_number(json_reader::member(entry, "clip_end_sec", at),
                                     at.key("clip_end_sec"));
      if (q.end < q.start || (!options_.keep_empty_windows && q.end - q.start <= kNlqEmptyWindow)) {
        ++report_.dropped_empty_window;
        return;
      }
      json_reader::check_segment(q.start, q.end, q.duration, at);
      q.has_window = true;
    }
    const std::string key = q.key();
    const auto [it, fresh] = seen_.emplace(key, file.path);
    if (!fresh) {
      at.fail("query " + key + " is listed again (first in " + it->second + ")",
              "keep one entry per clip, annotation and query");
    }
    report_.queries.queries.push_back(std::move(q));
  }

  const NlqConvertOptions& options_;
  NlqConvertReport report_;
  std::unordered_map<std::string, std::string> seen_;  // query key -> file
};

// ---- the query list ---------------------------------------------------------------------

NlqQuery read_query(const Json& entry, const std::string& path, std::size_t index) {
  const JsonPath list_at = JsonPath(path).key("queries").index(index);
  json_reader::as_object(entry, list_at);
  NlqQuery q;
  q.clip_uid = json_reader::as_string(json_reader::member(entry, "clip_uid", list_at),
                                      list_at.key("clip_uid"));
  q.annotation_uid = json_reader::as_string(json_reader::member(entry, "annotation_uid", list_at),
                                            list_at.key("annotation_uid"));
  q.query_idx = json_reader::as_integer(json_reader::member(entry, "query_idx", list_at),
                                        list_at.key("query_idx"));
  if (q.clip_uid.empty()) list_at.key("clip_uid").fail("is empty");
  if (q.annotation_uid.empty()) list_at.key("annotation_uid").fail("is empty");
  if (q.query_idx < 0)
    list_at.key("query_idx").fail("must be 0 or more, found " + std::to_string(q.query_idx));
  // From here on errors name the query: "FILE: query KEY: FIELD: problem".
  const std::string key = q.key();
  const JsonPath at(path + ": query " + key);
  if (const Json* named = json_reader::optional_member(entry, "key")) {
    const std::string& k = json_reader::as_string(*named, at.key("key"));
    if (k != key) {
      at.key("key").fail("'" + k + "' is not clip_uid_annotation_uid_query_idx",
                         "the key must be " + key);
    }
  }
  q.video_uid =
      json_reader::as_string(json_reader::member(entry, "video_uid", at), at.key("video_uid"));
  q.subset = json_reader::as_string(json_reader::member(entry, "subset", at), at.key("subset"));
  if (q.subset.empty()) at.key("subset").fail("is empty", "use train, val or test");
  q.duration =
      json_reader::as_number(json_reader::member(entry, "duration", at), at.key("duration"));
  if (!(q.duration > 0))
    at.key("duration").fail("must be positive, found " + json_reader::number_text(q.duration));
  q.fps = json_reader::as_number(json_reader::member(entry, "fps", at), at.key("fps"));
  if (!(q.fps > 0))
    at.key("fps").fail("must be positive, found " + json_reader::number_text(q.fps));
  q.query = json_reader::as_string(json_reader::member(entry, "query", at), at.key("query"));
  if (blank(q.query))
    at.key("query").fail("is empty",
                         "a query needs its text; asl convert --nlq drops such queries");
  q.template_name = optional_text(entry, "template", at);
  q.slot_x = optional_text(entry, "slot_x", at);
  q.verb_x = optional_text(entry, "verb_x", at);
  if (const Json* window = json_reader::optional_member(entry, "window")) {
    const JsonPath w_at = at.key("window");
    json_reader::as_array(*window, w_at);
    if (window->size() != 2) {
      w_at.fail("expected [start, end], found " + std::to_string(window->size()) + " values");
    }
    q.start = json_reader::as_number((*window)[0], w_at.index(0));
    q.end = json_reader::as_number((*window)[1], w_at.index(1));
    json_reader::check_segment(q.start, q.end, q.duration, w_at);
    q.has_window = true;
  } else if (!is_test_subset(q.subset)) {
    at.key("window").fail(
        "a " + q.subset + " query has no window",
        "training and scoring need the answer; only test queries come without one");
  }
  return q;
}

Json query_json(const NlqQuery& q) {
  Json j = Json::object();
  j["key"] = q.key();
  j["clip_uid"] = q.clip_uid;
  j["annotation_uid"] = q.annotation_uid;
  j["query_idx"] = q.query_idx;
  j["video_uid"] = q.video_uid;
  j["subset"] = q.subset;
  j["duration"] = q.duration;
  j["fps"] = q.fps;
  j["query"] = q.query;
  j["template"] = q.template_name;
  j["slot_x"] = q.slot_x;
  j["verb_x"] = q.verb_x;
  if (q.has_window) j["window"] = Json::array({q.start, q.end});
  return j;
}

std::string dump(const Json& j) { return j.dump(-1, ' ', false, Json::error_handler_t::replace); }

// Finds the top-level "task" without building the document; stops at the first top-level
// object (a clip-annotation file's clips; the query list has none).
class TaskProbe : public nlohmann::json_sax<Json> {
 public:
  bool is_nlq() const { return is_nlq_; }

  bool null() override { return scalar(); }
  bool boolean(bool) override { return scalar(); }
  bool number_integer(number_integer_t) override { return scalar(); }
  bool number_unsigned(number_unsigned_t) override { return scalar(); }
  bool number_float(number_float_t, const string_t&) override { return scalar(); }
  bool string(string_t& v) override {
    if (depth_ == 1 && task_value_) {
      is_nlq_ = v == "nlq";
      return false;  // found: stop
    }
    return scalar();
  }
  bool binary(binary_t&) override { return false; }
  bool start_object(std::size_t) override {
    if (depth_ == 1) return false;  // a top-level object value: not a query list
    ++depth_;
    task_value_ = false;
    return true;
  }
  bool end_object() override { return --depth_, true; }
  bool start_array(std::size_t) override {
    if (depth_ == 0) return false;
    ++depth_;
    task_value_ = false;
    return true;
  }
  bool end_array() override { return --depth_, true; }
  bool key(string_t& k) override {
    task_value_ = depth_ == 1 && k == "task";
    return true;
  }
  bool parse_error(std::size_t, const std::string&, const nlohmann::detail::exception&) override {
    return false;
  }

 private:
  bool scalar() {
    if (depth_ == 1 && task_value_) return false;  // "task" is not a string
    task_value_ = false;
    return true;
  }

  int depth_ = 0;
  bool task_value_ = false;
  bool is_nlq_ = false;
};

}  // namespace

std::string nlq_query_key(const std::string& clip_uid, const std::string& annotation_uid,
                          int64_t query_idx) {
  return clip_uid + "_" + annotation_uid + "_" + std::to_string(query_idx);
}

std::string NlqQuery::key() const { return nlq_query_key(clip_uid, annotation_uid, query_idx); }

const NlqQuery* NlqQueries::find(const std::string& key) const {
  for (const NlqQuery& q : queries) {
    if (q.key() == key) return &q;
  }
  return nullptr;
}

std::vector<const NlqQuery*> NlqQueries::select(const std::vector<std::string>& subsets) const {
  return select_subsets(queries, subsets);
}

NlqQueries read_nlq_queries(const std::string& path) {
  const Json root = json_reader::parse_json(read_file(path), path);
  const JsonPath at(path);
  if (!root.is_object()) {
    at.fail(
        "the top level must be an object {\"task\": \"nlq\", \"version\": 1, \"queries\": [...]}",
        "write the query list with asl convert --nlq");
  }
  const Json* task = json_reader::optional_member(root, "task");
  if (task == nullptr || !task->is_string() || task->get_ref<const std::string&>() != "nlq") {
    at.key("task").fail(task == nullptr ? "missing: this is not an NLQ query list"
                                        : "is " + task->dump() + ", not \"nlq\"",
                        "write the query list with asl convert --nlq");
  }
  const int64_t version =
      json_reader::as_integer(json_reader::member(root, "version", at), at.key("version"));
  if (version != kQueryListVersion) {
    at.key("version").fail("version " + std::to_string(version) +
                               " is not known (this build reads " +
                               std::to_string(kQueryListVersion) + ")",
                           "convert the official files again with this build's asl convert --nlq");
  }
  const Json& list =
      json_reader::as_array(json_reader::member(root, "queries", at), at.key("queries"));
  NlqQueries out;
  out.queries.reserve(list.size());
  std::unordered_map<std::string, std::size_t> seen;
  for (std::size_t i = 0; i < list.size(); ++i) {
    NlqQuery q = read_query(list[i], path, i);
    const auto [it, fresh] = seen.emplace(q.key(), i);
    if (!fresh) {
      throw Error(path + ": query " + q.key(),
                  "listed twice (queries[" + std::to_string(it->second) + "] and queries[" +
                      std::to_string(i) + "])",
                  "keep one entry per clip, annotation and query index");
    }
    out.queries.push_back(std::move(q));
  }
  return out;
}

void write_nlq_queries(const NlqQueries& queries, const std::string& path) {
  // One query per line: still one JSON document, but diffs and grep stay readable.
  std::set<std::string> seen;
  std::string text =
      "{\"task\": \"nlq\", \"version\": " + std::to_string(kQueryListVersion) + ", \"queries\": [";
  for (std::size_t i = 0; i < queries.queries.size(); ++i) {
    const NlqQuery& q = queries.queries[i];
    if (!seen.insert(q.key()).second) {
      throw Error(path, "query " + q.key() + " would be written twice", "keep one entry per query");
    }
    text += i == 0 ? "\n" : ",\n";
    text += dump(query_json(q));
  }
  text += "\n]}\n";
  write_file_atomic(path, text);
}

bool is_nlq_query_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return false;
  TaskProbe probe;
  try {
    Json::sax_parse(in, &probe);
  } catch (const std::exception&) {
    return false;
  }
  return probe.is_nlq();
}

ClipAnnotations nlq_as_clips(const NlqQueries& queries) {
  ClipAnnotations out;
  out.clips.reserve(queries.queries.size());
  for (const NlqQuery& q : queries.queries) {
    Clip c;
    c.clip_id = q.key();
    c.feature_id = q.clip_uid;
    c.video_id = q.video_uid;
    c.subset = q.subset;
    c.duration = q.duration;
    c.v_duration = q.duration;  // the query knows its clip only (parent_* stay 0)
    c.fps = q.fps;
    if (q.has_window) c.annotations.push_back(Segment{q.start, q.end, "answer", 0});
    out.clips.push_back(std::move(c));
  }
  return out;
}

NlqConvertReport convert_nlq(const NlqConvertOptions& options) {
  if (options.files.empty()) {
    throw Error("--nlq", "no annotation file given",
                "name the official nlq_train.json, nlq_val.json, nlq_test_unannotated.json");
  }
  if (!(options.feature_fps > 0) || !std::isfinite(options.feature_fps)) {
    throw Error("--feature-fps", "must be a positive number, found " +
                                     json_reader::number_text(options.feature_fps));
  }
  std::vector<NlqFile> files;
  for (const std::string& arg : options.files) files.push_back(parse_file_arg(arg));
  Converter converter(options);
  for (const NlqFile& file : files) converter.add_file(file);
  return converter.finish();
}

NlqConvertReport convert_nlq_to_file(const NlqConvertOptions& options, const std::string& out) {
  NlqConvertReport report = convert_nlq(options);
  write_nlq_queries(report.queries, out);
  return report;
}

std::string describe(const NlqConvertReport& report) {
  // Subsets in the order they first appear.
  std::vector<std::string> order;
  std::map<std::string, std::pair<int64_t, std::set<std::string>>> per_subset;  // queries, clips
  std::set<std::string> clips, videos;
  double min_w = std::numeric_limits<double>::infinity(), max_w = 0, sum_w = 0;
  int64_t windows = 0;
  for (const NlqQuery& q : report.queries.queries) {
    auto [it, fresh] = per_subset.try_emplace(q.subset);
    if (fresh) order.push_back(q.subset);
    it->second.first += 1;
    it->second.second.insert(q.clip_uid);
    clips.insert(q.clip_uid);
    videos.insert(q.video_uid);
    if (q.has_window) {
      const double w = q.end - q.start;
      min_w = std::min(min_w, w);
      max_w = std::max(max_w, w);
      sum_w += w;
      ++windows;
    }
  }
  std::ostringstream queries_line, clips_line;
  for (std::size_t i = 0; i < order.size(); ++i) {
    const auto& counts = per_subset[order[i]];
    queries_line << (i ? ", " : " (") << order[i] << " " << counts.first;
    clips_line << (i ? ", " : " (") << order[i] << " " << counts.second.size();
  }
  if (!order.empty()) {
    queries_line << ")";
    clips_line << ")";
  }
  std::ostringstream s;
  s << report.queries.queries.size() << " queries" << queries_line.str() << "\n";
  s << clips.size() << " clips" << clips_line.str() << " from " << videos.size() << " videos\n";
  if (windows > 0) {
    s << "answer window: min " << seconds(min_w) << ", mean "
      << seconds(sum_w / static_cast<double>(windows)) << ", max " << seconds(max_w) << "\n";
  }
  s << "dropped " << report.dropped_no_text << " queries without text, "
    << report.dropped_empty_window << " train/val queries with an empty or reversed window\n";
  return s.str();
}

ClipAnnotations nlq_feature_clips(const NlqQueries& queries) {
  ClipAnnotations out;
  std::unordered_set<std::string> seen;
  for (const NlqQuery& q : queries.queries) {
    if (!seen.insert(q.clip_uid).second) continue;
    Clip c;
    c.clip_id = q.clip_uid;
    c.video_id = q.video_uid;
    c.subset = q.subset;
    c.duration = q.duration;
    c.fps = q.fps;
    out.clips.push_back(std::move(c));
  }
  return out;
}

}  // namespace asl::data
