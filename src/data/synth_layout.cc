// The layout of `asl synth`: which clips, with which durations, segments, labels and
// subsets. Drawn from distributions fitted to the Ego4D MQ v1 annotations, or taken from a
// template file (a stratified subset, optionally with fewer classes). docs/synth.md lists
// the fitted values.
#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdio>
#include <limits>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "core/error.h"
#include "core/strings.h"
#include "data/synth_random.h"
#include "data/synth.h"

namespace asl::data {
namespace {

using synth_random::mix;
using synth_random::Rng;

// Fitted to tests/data/ego4d/clip_annotations.json (train + val), see docs/synth.md.
constexpr double kFullClipShare = 0.87;      // clips of exactly 480 s
constexpr double kNearFullShare = 0.08;      // 470 to 480 s; the rest 182 to 470 s
constexpr double kLogCountMean = 1.95;       // instances per clip: round(exp(N(m, s))), >= 1
constexpr double kLogCountStd = 0.7;
constexpr double kRepeatLabel = 0.5;         // an instance repeats a label of its clip
constexpr double kLogLengthMean = 2.17;      // segment seconds: exp(N(m, s)) in [0.6, clip]
constexpr double kLogLengthStd = 1.7;
constexpr double kMinLength = 0.6;
constexpr double kEndsAtClipEnd = 0.15;      // segments cut by the clip's end
// Videos: 62% hold one clip, 25% two, 13% three; subsets follow a fixed pattern of ten
// videos (7 train, 2 val, 1 test) so that small datasets have every split early.
constexpr double kOneClip = 0.62;
constexpr double kTwoClips = 0.87;
const char* const kSubsetPattern[10] = {"train", "train", "val", "train", "train",
                                        "test",  "train", "train", "val", "train"};

std::string uuid(Rng& rng) {
  const uint64_t a = rng.next();
  const uint64_t b = rng.next();
  char text[40];
  std::snprintf(text, sizeof text, "%08x-%04x-4%03x-%04x-%012llx",
                static_cast<unsigned>(a >> 32), static_cast<unsigned>((a >> 16) & 0xffff),
                static_cast<unsigned>(a & 0xfff),
                static_cast<unsigned>(0x8000 | ((b >> 48) & 0x3fff)),
                static_cast<unsigned long long>(b & 0xffffffffffffull));
  return text;
}

// To a whole number of 1/per_second: 30 for video frames, 1000 for milliseconds.
double round_to(double x, double per_second) { return std::round(x * per_second) / per_second; }

std::string label_name(int64_t id) {
  char text[32];
  std::snprintf(text, sizeof text, "action_%03lld", static_cast<long long>(id));
  return text;
}

double draw_duration(Rng& rng) {
  const double u = rng.uniform();
  double seconds = 480.0;
  if (u >= kFullClipShare + kNearFullShare) {
    seconds = rng.uniform(182.0, 470.0);
  } else if (u >= kFullClipShare) {
    seconds = rng.uniform(470.0, 480.0);
  }
  return round_to(seconds, 30);  // a whole number of 30 fps frames, as in Ego4D
}

// Zipf (p ~ 1 / (rank + 1)) over label ids: id 0 is the most frequent, as after renumbering
// a template by frequency.
int64_t draw_label(Rng& rng, int64_t classes) {
  double total = 0;
  for (int64_t c = 0; c < classes; ++c) total += 1.0 / static_cast<double>(c + 1);
  double u = rng.uniform() * total;
  for (int64_t c = 0; c < classes; ++c) {
    u -= 1.0 / static_cast<double>(c + 1);
    if (u < 0) return c;
  }
  return classes - 1;
}

std::vector<Segment> draw_segments(Rng& rng, double duration, int64_t classes) {
  const auto count = std::max<int64_t>(
      1, std::llround(std::exp(kLogCountMean + kLogCountStd * rng.normal())));
  std::vector<int64_t> used;
  std::vector<Segment> out;
  for (int64_t i = 0; i < count; ++i) {
    int64_t label = 0;
    if (!used.empty() && rng.chance(kRepeatLabel)) {
      label = used[static_cast<size_t>(rng.below(static_cast<int64_t>(used.size())))];
    } else {
      label = draw_label(rng, classes);
      if (std::find(used.begin(), used.end(), label) == used.end()) used.push_back(label);
    }
    const double length = std::clamp(std::exp(kLogLengthMean + kLogLengthStd * rng.normal()),
                                     std::min(kMinLength, duration), duration);
    const double start =
        rng.chance(kEndsAtClipEnd) ? duration - length : rng.uniform(0, duration - length);
    Segment s;
    s.start = std::max(0.0, round_to(start, 1000));
    s.end = std::min(duration, round_to(start + length, 1000));
    if (s.end <= s.start) s.end = std::min(duration, s.start + 1e-3);
    s.label_id = label;
    s.label = label_name(label);
    out.push_back(std::move(s));
  }
  std::stable_sort(out.begin(), out.end(),
                   [](const Segment& a, const Segment& b) { return a.start < b.start; });
  return out;
}

// Every clip but the test split's must have annotations (as read_clip_annotations checks).
bool annotated_subset(const std::string& subset) {
  std::string s = subset;
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s != "test";
}

}  // namespace

std::vector<StreamInfo> parse_streams(const std::string& spec) {
  std::vector<StreamInfo> streams;
  if (spec.empty()) {
    throw Error("--features", "no streams given", "write them as NAME:DIM,NAME:DIM, e.g. egovlp:256");
  }
  for (const std::string& entry : split(spec, ',')) {
    const auto fail = [&](const std::string& problem) {
      throw Error("--features '" + entry + "'", problem,
                  "write each stream as NAME:DIM, e.g. egovlp:256, separated by commas");
    };
    const size_t colon = entry.find(':');
    if (colon == std::string::npos) fail("missing ':' between the name and the dimension");
    StreamInfo s;
    s.name = entry.substr(0, colon);
    const std::string dim = entry.substr(colon + 1);
    if (s.name.empty()) fail("empty stream name");
    for (const char c : s.name) {
      if (!std::isalnum(static_cast<unsigned char>(c)) && c != '_' && c != '-' && c != '.') {
        fail("a stream name may hold letters, digits, '_', '-' and '.' only");
      }
    }
    if (dim.empty() || dim.size() > 7 ||
        !std::all_of(dim.begin(), dim.end(), [](char c) { return c >= '0' && c <= '9'; })) {
      fail("the dimension must be a positive whole number");
    }
    s.dim = std::stoll(dim);
    if (s.dim < 1 || s.dim > 65536) fail("the dimension must be between 1 and 65536");
    for (const StreamInfo& other : streams) {
      if (other.name == s.name) fail("stream '" + s.name + "' is given twice");
    }
    streams.push_back(std::move(s));
  }
  return streams;
}

int64_t synth_rows(double seconds, double fps) {
  return std::max<int64_t>(1, std::llround(seconds * fps));
}

ClipAnnotations draw_synth_clips(int64_t clips, int64_t classes, uint64_t seed, double fps) {
  ClipAnnotations out;
  for (uint64_t video = 0; static_cast<int64_t>(out.clips.size()) < clips; ++video) {
    // Everything about a video is drawn before any of its clips is kept, so that keeping
    // fewer of its clips (the last video of a small dataset) changes nothing else.
    Rng rng(mix(mix(seed, "video"), video));
    const std::string video_id = uuid(rng);
    const std::string subset = kSubsetPattern[video % 10];
    const double u = rng.uniform();
    const int count = u < kOneClip ? 1 : u < kTwoClips ? 2 : 3;
    std::vector<Clip> video_clips;
    double t = round_to(rng.uniform(0, 60), 30);
    for (int k = 0; k < count; ++k) {
      Clip c;
      c.clip_id = uuid(rng);
      c.video_id = video_id;
      c.subset = subset;
      c.duration = draw_duration(rng);
      c.parent_start_sec = t;
      c.parent_end_sec = round_to(t + c.duration, 30);
      c.fps = fps;
      t = round_to(c.parent_end_sec + rng.uniform(0, 30), 30);
      video_clips.push_back(std::move(c));
    }
    const double v_duration = round_to(video_clips.back().parent_end_sec + rng.uniform(0, 60), 100);
    for (Clip& c : video_clips) {
      if (static_cast<int64_t>(out.clips.size()) >= clips) break;
      c.v_duration = v_duration;
      if (subset != "test") {
        Rng srng(mix(mix(seed, "segments"), c.clip_id));
        c.annotations = draw_segments(srng, c.duration, classes);
      }
      out.clips.push_back(std::move(c));
    }
  }
  return out;
}

ClipAnnotations select_template_clips(const ClipAnnotations& templ, int64_t clips,
                                      int64_t classes, uint64_t seed, double fps,
                                      const std::string& where) {
  // Labels by instance count (most first, ties by id).
  std::map<int64_t, int64_t> count;
  for (const Clip& c : templ.clips) {
    for (const Segment& s : c.annotations) ++count[s.label_id];
  }
  std::vector<std::pair<int64_t, int64_t>> by_count;  // (-count, id)
  for (const auto& [id, n] : count) by_count.emplace_back(-n, id);
  std::sort(by_count.begin(), by_count.end());
  const auto labels = static_cast<int64_t>(by_count.size());
  if (classes > labels) {
    throw Error(where, "the template has " + std::to_string(labels) + " labels; --classes " +
                           std::to_string(classes) + " asks for more",
                "use --classes " + std::to_string(labels) + " or fewer");
  }
  std::map<int64_t, int64_t> new_id;  // template id -> id in the synthetic dataset
  bool keep_ids = true;
  for (int64_t rank = 0; rank < classes; ++rank) {
    const int64_t id = by_count[static_cast<size_t>(rank)].second;
    new_id[id] = rank;
    if (id >= classes) keep_ids = false;
  }
  if (keep_ids) {
    for (auto& [id, mapped] : new_id) mapped = id;
  }

  // Reduce classes, drop train/val clips left without instances.
  std::vector<Clip> eligible;
  for (const Clip& c : templ.clips) {
    Clip kept = c;
    kept.fps = fps;
    kept.annotations.clear();
    for (const Segment& s : c.annotations) {
      const auto it = new_id.find(s.label_id);
      if (it == new_id.end()) continue;
      Segment t = s;
      t.label_id = it->second;
      kept.annotations.push_back(std::move(t));
    }
    if (kept.annotations.empty() && annotated_subset(kept.subset)) continue;
    eligible.push_back(std::move(kept));
  }

  // Stratified choice: each subset gets its share of the template (before the class
  // reduction) of the clips wanted, by largest remainders; a subset with too few clips
  // left gives its remaining places to the others, largest shortfall first.
  std::map<std::string, std::vector<size_t>> by_subset;
  for (size_t i = 0; i < eligible.size(); ++i) by_subset[eligible[i].subset].push_back(i);
  std::map<std::string, double> in_template;
  for (const Clip& c : templ.clips) in_template[c.subset] += 1;
  const int64_t wanted = std::min(clips, static_cast<int64_t>(eligible.size()));
  std::map<std::string, double> ideal;
  std::map<std::string, int64_t> quota;
  int64_t given = 0;
  for (const auto& [subset, members] : by_subset) {
    ideal[subset] = static_cast<double>(wanted) * in_template[subset] /
                    static_cast<double>(templ.clips.size());
    quota[subset] = std::min(static_cast<int64_t>(std::floor(ideal[subset])),
                             static_cast<int64_t>(members.size()));
    given += quota[subset];
  }
  for (; given < wanted; ++given) {
    const std::string* best = nullptr;
    for (const auto& [subset, members] : by_subset) {
      if (quota[subset] >= static_cast<int64_t>(members.size())) continue;
      const double shortfall = ideal[subset] - static_cast<double>(quota[subset]);
      if (!best || shortfall > ideal[*best] - static_cast<double>(quota[*best])) best = &subset;
    }
    ++quota[*best];
  }

  std::vector<bool> chosen(eligible.size(), false);
  for (auto& [subset, members] : by_subset) {
    std::vector<std::pair<uint64_t, size_t>> order;
    for (const size_t i : members) order.emplace_back(mix(mix(seed, "choose"), eligible[i].clip_id), i);
    std::sort(order.begin(), order.end());
    for (int64_t k = 0; k < quota[subset]; ++k) chosen[order[static_cast<size_t>(k)].second] = true;
  }
  ClipAnnotations out;
  for (size_t i = 0; i < eligible.size(); ++i) {
    if (chosen[i]) out.clips.push_back(std::move(eligible[i]));
  }
  return out;
}

std::vector<Segment> synth_shown_segments(const Clip& clip, int64_t classes, uint64_t seed) {
  if (!clip.annotations.empty()) return clip.annotations;
  Rng rng(mix(mix(seed, "hidden"), clip.clip_id));
  return draw_segments(rng, clip.duration, classes);
}

}  // namespace asl::data
