#include "data/annotations.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdio>
#include <limits>
#include <set>
#include <sstream>
#include <unordered_map>
#include <utility>

#include "core/error.h"
#include "core/fs.h"
#include "data/h1_json.h"

namespace asl::data {
namespace {

using h1::Json;
using h1::JsonPath;

std::string lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

bool is_test_subset(const std::string& subset) { return lower(subset) == "test"; }

// Checks that each label name has one id and each id one name, over the whole file.
class LabelConsistency {
 public:
  void add(const std::string& name, int64_t id, const std::string& clip_id, const JsonPath& at) {
    const auto by_name = ids_.emplace(name, std::make_pair(id, clip_id)).first;
    if (by_name->second.first != id) {
      at.fail("label '" + name + "' has id " + std::to_string(id) + " here but id " +
                  std::to_string(by_name->second.first) + " in clip " + by_name->second.second,
              "one label name must always have the same label_id");
    }
    const auto by_id = names_.emplace(id, std::make_pair(name, clip_id)).first;
    if (by_id->second.first != name) {
      at.fail("label_id " + std::to_string(id) + " names '" + name + "' here but '" +
                  by_id->second.first + "' in clip " + by_id->second.second,
              "one label_id must always name the same label");
    }
  }

 private:
  std::unordered_map<std::string, std::pair<int64_t, std::string>> ids_;
  std::unordered_map<int64_t, std::pair<std::string, std::string>> names_;
};

double positive(const Json& clip, const char* key, const JsonPath& at) {
  const double v = h1::as_number(h1::member(clip, key, at), at.key(key));
  if (!(v > 0)) at.key(key).fail("must be positive, found " + h1::number_text(v));
  return v;
}

Segment read_segment(const Json& entry, double duration, const JsonPath& at) {
  h1::as_object(entry, at);
  const JsonPath seg_at = at.key("segment");
  const Json& pair = h1::as_array(h1::member(entry, "segment", at), seg_at);
  if (pair.size() != 2) {
    seg_at.fail("expected [start, end], found " + std::to_string(pair.size()) + " values");
  }
  Segment s;
  s.start = h1::as_number(pair[0], seg_at.index(0));
  s.end = h1::as_number(pair[1], seg_at.index(1));
  h1::check_segment(s.start, s.end, duration, seg_at);
  s.label = h1::as_string(h1::member(entry, "label", at), at.key("label"));
  if (s.label.empty()) at.key("label").fail("is empty");
  s.label_id = h1::as_integer(h1::member(entry, "label_id", at), at.key("label_id"));
  if (s.label_id < 0) {
    at.key("label_id").fail("must be 0 or more, found " + std::to_string(s.label_id));
  }
  return s;
}

Clip read_clip(const std::string& key, const Json& value, const JsonPath& at,
               LabelConsistency& labels) {
  h1::as_object(value, at);
  Clip c;
  c.clip_id = key;
  if (const Json* id = h1::optional_member(value, "clip_id")) {
    const std::string& named = h1::as_string(*id, at.key("clip_id"));
    if (named != key) {
      at.key("clip_id").fail("'" + named + "' differs from the clip's key",
                             "the key and clip_id must be the same clip id");
    }
  }
  c.video_id = h1::as_string(h1::member(value, "video_id", at), at.key("video_id"));
  c.subset = h1::as_string(h1::member(value, "subset", at), at.key("subset"));
  if (c.subset.empty()) at.key("subset").fail("is empty", "use train, val or test");
  c.duration = positive(value, "duration", at);
  c.parent_start_sec =
      h1::as_number(h1::member(value, "parent_start_sec", at), at.key("parent_start_sec"));
  c.parent_end_sec =
      h1::as_number(h1::member(value, "parent_end_sec", at), at.key("parent_end_sec"));
  if (c.parent_end_sec < c.parent_start_sec) {
    at.key("parent_end_sec")
        .fail(h1::number_text(c.parent_end_sec) + " is before parent_start_sec " +
              h1::number_text(c.parent_start_sec));
  }
  c.v_duration = positive(value, "v_duration", at);
  c.fps = positive(value, "fps", at);

  if (const Json* list = h1::optional_member(value, "annotations")) {
    const JsonPath list_at = at.key("annotations");
    h1::as_array(*list, list_at);
    c.annotations.reserve(list->size());
    for (std::size_t i = 0; i < list->size(); ++i) {
      const JsonPath entry_at = list_at.index(i);
      c.annotations.push_back(read_segment((*list)[i], c.duration, entry_at));
      const Segment& s = c.annotations.back();
      labels.add(s.label, s.label_id, key, entry_at.key("label"));
    }
  }
  // Training cannot use a clip without ground truth, and the converter drops such clips;
  // only test clips come without annotations.
  if (c.annotations.empty() && !is_test_subset(c.subset)) {
    at.key("annotations").fail("a " + c.subset + " clip has no annotations",
                               "drop the clip, or convert again with asl convert");
  }
  return c;
}

Json segment_json(const Segment& s) {
  Json j = Json::object();
  j["segment"] = Json::array({s.start, s.end});
  j["label"] = s.label;
  j["label_id"] = s.label_id;
  return j;
}

// The key order of the reference's converter (and of the real Ego4D file).
Json clip_json(const Clip& c) {
  Json j = Json::object();
  j["video_id"] = c.video_id;
  j["clip_id"] = c.clip_id;
  j["duration"] = c.duration;
  j["parent_start_sec"] = c.parent_start_sec;
  j["parent_end_sec"] = c.parent_end_sec;
  j["v_duration"] = c.v_duration;
  j["fps"] = c.fps;
  Json list = Json::array();
  for (const Segment& s : c.annotations) list.push_back(segment_json(s));
  j["annotations"] = std::move(list);
  j["subset"] = c.subset;
  return j;
}

std::string dump(const Json& j) { return j.dump(-1, ' ', false, Json::error_handler_t::replace); }

std::string seconds(double v) {
  char buffer[32];
  std::snprintf(buffer, sizeof buffer, "%.1f s", v);
  return buffer;
}

}  // namespace

const Clip* ClipAnnotations::find(const std::string& clip_id) const {
  for (const Clip& c : clips) {
    if (c.clip_id == clip_id) return &c;
  }
  return nullptr;
}

std::vector<const Clip*> ClipAnnotations::select(const std::vector<std::string>& subsets) const {
  std::set<std::string> wanted;
  for (const auto& s : subsets) wanted.insert(lower(s));
  std::vector<const Clip*> out;
  for (const Clip& c : clips) {
    if (wanted.count(lower(c.subset))) out.push_back(&c);
  }
  return out;
}

std::map<std::string, int64_t> ClipAnnotations::label_dict() const {
  std::map<std::string, int64_t> dict;
  for (const Clip& c : clips) {
    for (const Segment& s : c.annotations) dict.emplace(s.label, s.label_id);
  }
  return dict;
}

ClipAnnotations read_clip_annotations(const std::string& path) {
  const std::string text = read_file(path);
  // A repeated key would silently replace the earlier clip; catch it while parsing.
  std::set<std::string> keys;
  std::string repeated;
  const Json::parser_callback_t note_repeats = [&](int depth, Json::parse_event_t event,
                                                   Json& parsed) {
    if (depth == 1 && event == Json::parse_event_t::key && repeated.empty() &&
        !keys.insert(parsed.get<std::string>()).second) {
      repeated = parsed.get<std::string>();
    }
    return true;
  };
  const Json root = h1::parse_json(text, path, note_repeats);
  const JsonPath at(path);
  if (!root.is_object()) {
    at.fail("the top level must be an object keyed by clip id, found " +
                std::string(root.type_name()),
            "write the clip layout of docs/annotations.md, e.g. with asl convert");
  }
  if (!repeated.empty()) {
    at.in_clip(repeated).fail("the clip id appears twice", "keep one entry per clip");
  }
  ClipAnnotations out;
  out.clips.reserve(root.size());
  LabelConsistency labels;
  for (const auto& [key, value] : root.items()) {
    out.clips.push_back(read_clip(key, value, at.in_clip(key), labels));
  }
  return out;
}

void write_clip_annotations(const ClipAnnotations& annotations, const std::string& path) {
  // One clip per line: still one JSON object, but diffs and grep stay readable.
  std::set<std::string> seen;
  std::string text = "{";
  for (std::size_t i = 0; i < annotations.clips.size(); ++i) {
    const Clip& c = annotations.clips[i];
    if (!seen.insert(c.clip_id).second) {
      throw Error(path, "clip " + c.clip_id + " would be written twice", "merge the entries");
    }
    text += i == 0 ? "\n" : ",\n";
    text += dump(Json(c.clip_id)) + ": " + dump(clip_json(c));
  }
  text += "\n}\n";
  write_file_atomic(path, text);
}

std::vector<Segment> remove_duplicate_annotations(const std::vector<Segment>& segments) {
  constexpr double kTolerance = 1e-3;
  std::vector<Segment> kept;
  for (const Segment& s : segments) {
    const bool duplicate = std::any_of(kept.begin(), kept.end(), [&s](const Segment& k) {
      return std::abs(s.start - k.start) <= kTolerance && std::abs(s.end - k.end) <= kTolerance &&
             s.label_id == k.label_id;
    });
    if (!duplicate) kept.push_back(s);
  }
  return kept;
}

std::string summarize(const ClipAnnotations& annotations) {
  // Subsets in the order they first appear.
  std::vector<std::string> order;
  std::map<std::string, std::pair<int64_t, int64_t>> per_subset;  // clips, instances
  double min_d = std::numeric_limits<double>::infinity(), max_d = 0, sum_d = 0;
  for (const Clip& c : annotations.clips) {
    auto [it, fresh] = per_subset.emplace(c.subset, std::make_pair(0, 0));
    if (fresh) order.push_back(c.subset);
    it->second.first += 1;
    it->second.second += static_cast<int64_t>(c.annotations.size());
    min_d = std::min(min_d, c.duration);
    max_d = std::max(max_d, c.duration);
    sum_d += c.duration;
  }
  const auto n = static_cast<int64_t>(annotations.clips.size());
  int64_t instances = 0;
  std::ostringstream clips_line, instances_line;
  for (std::size_t i = 0; i < order.size(); ++i) {
    const auto& counts = per_subset[order[i]];
    clips_line << (i ? ", " : " (") << order[i] << " " << counts.first;
    instances_line << (i ? ", " : " (") << order[i] << " " << counts.second;
    instances += counts.second;
  }
  if (!order.empty()) {
    clips_line << ")";
    instances_line << ")";
  }
  std::ostringstream s;
  s << n << " clips" << clips_line.str() << "\n";
  s << instances << " instances" << instances_line.str() << "\n";
  s << annotations.label_dict().size() << " classes\n";
  if (n > 0) {
    s << "clip duration: min " << seconds(min_d) << ", mean "
      << seconds(sum_d / static_cast<double>(n)) << ", max " << seconds(max_d) << "\n";
  }
  return s.str();
}

}  // namespace asl::data
