#include "data/annotations.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdio>
#include <limits>
#include <optional>
#include <set>
#include <sstream>
#include <unordered_map>
#include <unordered_set>
#include <utility>

#include "core/error.h"
#include "core/fs.h"
#include "data/json_reader.h"

namespace asl::data {
namespace {

using json_reader::Json;
using json_reader::JsonPath;

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
  const double v = json_reader::as_number(json_reader::member(clip, key, at), at.key(key));
  if (!(v > 0)) at.key(key).fail("must be positive, found " + json_reader::number_text(v));
  return v;
}

Segment read_segment(const Json& entry, double duration, const JsonPath& at) {
  json_reader::as_object(entry, at);
  const JsonPath seg_at = at.key("segment");
  const Json& pair = json_reader::as_array(json_reader::member(entry, "segment", at), seg_at);
  if (pair.size() != 2) {
    seg_at.fail("expected [start, end], found " + std::to_string(pair.size()) + " values");
  }
  Segment s;
  s.start = json_reader::as_number(pair[0], seg_at.index(0));
  s.end = json_reader::as_number(pair[1], seg_at.index(1));
  json_reader::check_segment(s.start, s.end, duration, seg_at);
  s.label = json_reader::as_string(json_reader::member(entry, "label", at), at.key("label"));
  if (s.label.empty()) at.key("label").fail("is empty");
  s.label_id = json_reader::as_integer(json_reader::member(entry, "label_id", at), at.key("label_id"));
  if (s.label_id < 0) {
    at.key("label_id").fail("must be 0 or more, found " + std::to_string(s.label_id));
  }
  return s;
}

Clip read_clip(const std::string& key, const Json& value, const JsonPath& at,
               LabelConsistency& labels) {
  json_reader::as_object(value, at);
  Clip c;
  c.clip_id = key;
  if (const Json* id = json_reader::optional_member(value, "clip_id")) {
    const std::string& named = json_reader::as_string(*id, at.key("clip_id"));
    if (named != key) {
      at.key("clip_id").fail("'" + named + "' differs from the clip's key",
                             "the key and clip_id must be the same clip id");
    }
  }
  c.video_id = json_reader::as_string(json_reader::member(value, "video_id", at), at.key("video_id"));
  c.subset = json_reader::as_string(json_reader::member(value, "subset", at), at.key("subset"));
  if (c.subset.empty()) at.key("subset").fail("is empty", "use train, val or test");
  c.duration = positive(value, "duration", at);
  c.parent_start_sec =
      json_reader::as_number(json_reader::member(value, "parent_start_sec", at), at.key("parent_start_sec"));
  c.parent_end_sec =
      json_reader::as_number(json_reader::member(value, "parent_end_sec", at), at.key("parent_end_sec"));
  if (c.parent_end_sec < c.parent_start_sec) {
    at.key("parent_end_sec")
        .fail(json_reader::number_text(c.parent_end_sec) + " is before parent_start_sec " +
              json_reader::number_text(c.parent_start_sec));
  }
  c.v_duration = positive(value, "v_duration", at);
  c.fps = positive(value, "fps", at);

  if (const Json* list = json_reader::optional_member(value, "annotations")) {
    const JsonPath list_at = at.key("annotations");
    json_reader::as_array(*list, list_at);
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

// The fast path of read_clip_annotations: one SAX pass that builds the clips of a valid file
// without a JSON tree or key paths (the tree cost 4x the parse). It gives up (nullopt) at the
// first thing that is not plainly valid: malformed JSON, a missing or ill-typed field, a failed
// check, a key given twice. The tree reader then reads the file again and reports the
// problem with its key path, so errors are exactly those of the tree reader.
class FastReader : public nlohmann::json_sax<Json> {
 public:
  std::optional<ClipAnnotations> read(const std::string& text) {
    if (!Json::sax_parse(text, this) || depth_ != 0 || !done_) return std::nullopt;
    return std::move(out_);
  }

  bool null() override { return scalar(Kind::kOther); }
  bool boolean(bool) override { return scalar(Kind::kOther); }
  bool number_integer(number_integer_t v) override {
    integer_ = v;
    number_ = static_cast<double>(v);
    return scalar(Kind::kInteger);
  }
  bool number_unsigned(number_unsigned_t v) override {
    // as_integer refuses values above INT64_MAX; give up on them.
    integer_ = v > static_cast<uint64_t>(INT64_MAX) ? -1 : static_cast<int64_t>(v);
    number_ = static_cast<double>(v);
    return scalar(Kind::kInteger);
  }
  bool number_float(number_float_t v, const string_t&) override {
    number_ = v;
    return scalar(Kind::kFloat);
  }
  bool string(string_t& v) override {
    string_ = std::move(v);
    return scalar(Kind::kString);
  }
  bool binary(binary_t&) override { return false; }

  // Depth inside: 1 the clips, 2 a clip, 3 its annotations, 4 an entry, 5 its segment.
  bool start_object(std::size_t) override {
    if (skipping_) return ++skipping_, true;
    if (depth_ == 0) return depth_ = 1, true;
    if (depth_ == 1 && field_ == Field::kClip) return depth_ = 2, start_clip();
    if (depth_ == 3 && field_ == Field::kEntryInList) return depth_ = 4, start_entry();
    return start_skip();
  }
  bool end_object() override {
    if (skipping_) return end_skip();
    --depth_;
    if (depth_ == 0) return done_ = true;
    if (depth_ == 1) return end_clip();
    if (depth_ == 3) return end_entry();
    return false;
  }
  bool start_array(std::size_t) override {
    if (skipping_) return ++skipping_, true;
    if (depth_ == 2 && field_ == Field::kAnnotations) {
      ++depth_;
      field_ = Field::kEntryInList;
      return true;
    }
    if (depth_ == 4 && field_ == Field::kSegment) {
      ++depth_;
      segment_values_ = 0;
      return true;
    }
    return start_skip();
  }
  bool end_array() override {
    if (skipping_) return end_skip();
    --depth_;
    if (depth_ == 2) {  // end of the annotations
      field_ = Field::kNone;
      return true;
    }
    if (depth_ == 4) {  // end of a segment
      if (segment_values_ != 2) return false;
      field_ = Field::kNone;
      return true;
    }
    return false;
  }

  bool key(string_t& k) override {
    if (skipping_) return true;
    if (depth_ == 1) {
      if (!keys_.insert(k).second) return false;  // a repeated clip id
      clip_ = Clip();
      clip_.clip_id = std::move(k);
      field_ = Field::kClip;
      return true;
    }
    if (depth_ == 2) return clip_key(k);
    if (depth_ == 4) return entry_key(k);
    return false;
  }

  bool parse_error(std::size_t, const std::string&, const nlohmann::detail::exception&) override {
    return false;
  }

 private:
  enum class Kind { kString, kInteger, kFloat, kOther };
  enum class Field {
    kNone, kClip, kClipId, kVideoId, kSubset, kDuration, kParentStart, kParentEnd, kVDuration,
    kFps, kAnnotations, kEntryInList, kSegment, kLabel, kLabelId, kUnknown
  };
  // Bits of the fields seen in the current clip or entry (a second time: give up).
  static unsigned bit(Field f) { return 1u << static_cast<unsigned>(f); }

  bool start_skip() {
    if (field_ != Field::kUnknown) return false;  // a container where a known field's value goes
    skipping_ = 1;
    return true;
  }
  bool end_skip() {
    if (--skipping_ == 0) field_ = Field::kNone;
    return true;
  }

  bool start_clip() {
    seen_ = 0;
    field_ = Field::kNone;
    return true;
  }
  bool clip_key(const string_t& k) {
    static const std::pair<const char*, Field> kFields[] = {
        {"clip_id", Field::kClipId}, {"video_id", Field::kVideoId}, {"subset", Field::kSubset},
        {"duration", Field::kDuration}, {"parent_start_sec", Field::kParentStart},
        {"parent_end_sec", Field::kParentEnd}, {"v_duration", Field::kVDuration},
        {"fps", Field::kFps}, {"annotations", Field::kAnnotations}};
    field_ = Field::kUnknown;
    for (const auto& [name, f] : kFields) {
      if (k == name) field_ = f;
    }
    if (field_ == Field::kUnknown) return true;
    if (seen_ & bit(field_)) return false;
    seen_ |= bit(field_);
    return true;
  }
  bool start_entry() {
    entry_seen_ = 0;
    segment_ = Segment();
    field_ = Field::kNone;
    return true;
  }
  bool entry_key(const string_t& k) {
    field_ = k == "segment" ? Field::kSegment : k == "label" ? Field::kLabel
           : k == "label_id" ? Field::kLabelId : Field::kUnknown;
    if (field_ == Field::kUnknown) return true;
    if (entry_seen_ & bit(field_)) return false;
    entry_seen_ |= bit(field_);
    return true;
  }

  bool scalar(Kind kind) {
    if (skipping_) return true;
    const bool number = kind == Kind::kInteger || kind == Kind::kFloat;
    if (depth_ == 5) {  // a segment value
      if (!number || segment_values_ >= 2) return false;
      (segment_values_++ == 0 ? segment_.start : segment_.end) = number_;
      return true;
    }
    const Field f = field_;
    field_ = Field::kNone;
    switch (f) {
      case Field::kUnknown: return true;
      case Field::kClipId: return kind == Kind::kString && string_ == clip_.clip_id;
      case Field::kVideoId: return kind == Kind::kString && (clip_.video_id = string_, true);
      case Field::kSubset: return kind == Kind::kString && (clip_.subset = string_, true);
      case Field::kDuration: return number && (clip_.duration = number_) > 0;
      case Field::kParentStart: return number && (clip_.parent_start_sec = number_, true);
      case Field::kParentEnd: return number && (clip_.parent_end_sec = number_, true);
      case Field::kVDuration: return number && (clip_.v_duration = number_) > 0;
      case Field::kFps: return number && (clip_.fps = number_) > 0;
      case Field::kLabel:
        return kind == Kind::kString && !string_.empty() && (segment_.label = string_, true);
      case Field::kLabelId:
        return kind == Kind::kInteger && integer_ >= 0 && (segment_.label_id = integer_, true);
      default: return false;  // a scalar where an object or array belongs
    }
  }

  bool end_entry() {
    const unsigned all = bit(Field::kSegment) | bit(Field::kLabel) | bit(Field::kLabelId);
    if ((entry_seen_ & all) != all) return false;
    // One id per name and one name per id, over the whole file (LabelConsistency).
    const auto by_name = ids_.emplace(segment_.label, segment_.label_id).first;
    const auto by_id = names_.emplace(segment_.label_id, segment_.label).first;
    if (by_name->second != segment_.label_id || by_id->second != segment_.label) return false;
    clip_.annotations.push_back(std::move(segment_));
    field_ = Field::kEntryInList;
    return true;
  }

  bool end_clip() {
    const unsigned required = bit(Field::kVideoId) | bit(Field::kSubset) | bit(Field::kDuration) |
                              bit(Field::kParentStart) | bit(Field::kParentEnd) |
                              bit(Field::kVDuration) | bit(Field::kFps);
    if ((seen_ & required) != required || clip_.subset.empty()) return false;
    if (clip_.parent_end_sec < clip_.parent_start_sec) return false;
    // json_reader::check_segment, which needs the duration (it may come after the annotations).
    for (const Segment& s : clip_.annotations) {
      if (s.end < s.start) return false;
      if (s.start < -kSegmentTolerance || s.end > clip_.duration + kSegmentTolerance) return false;
    }
    if (clip_.annotations.empty() && !is_test_subset(clip_.subset)) return false;
    out_.clips.push_back(std::move(clip_));
    field_ = Field::kNone;
    return true;
  }

  ClipAnnotations out_;
  Clip clip_;
  Segment segment_;
  std::unordered_set<std::string> keys_;
  std::unordered_map<std::string, int64_t> ids_;
  std::unordered_map<int64_t, std::string> names_;
  int depth_ = 0;
  int skipping_ = 0;  // nesting inside a value that is not read
  int segment_values_ = 0;
  bool done_ = false;
  unsigned seen_ = 0, entry_seen_ = 0;
  Field field_ = Field::kNone;
  double number_ = 0;
  int64_t integer_ = 0;
  string_t string_;
};

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

std::string lower_ascii(const std::string& s) {
  std::string out = s;
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

bool is_test_subset(const std::string& subset) { return lower_ascii(subset) == "test"; }

const Clip* ClipAnnotations::find(const std::string& clip_id) const {
  for (const Clip& c : clips) {
    if (c.clip_id == clip_id) return &c;
  }
  return nullptr;
}

std::vector<const Clip*> ClipAnnotations::select(const std::vector<std::string>& subsets) const {
  return select_subsets(clips, subsets);
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
  if (auto clips = FastReader().read(text)) return std::move(*clips);
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
  const Json root = json_reader::parse_json(text, path, note_repeats);
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
