// `asl synth --task nlq`: language queries about the instances of synthetic clips, their text
// features, and the official NLQ layout they are written in. docs/synth.md gives the model.
#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdio>
#include <iterator>
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/error.h"
#include "data/nlq.h"
#include "data/synth.h"
#include "data/synth_random.h"

namespace asl::data {
namespace {

using synth_random::mix;
using synth_random::Rng;
using Json = nlohmann::ordered_json;

constexpr int64_t kQueriesPerAnnotation = 3;
constexpr double kVideoFps = 30.0;  // frame numbers of the official files

std::string uuid(Rng& rng) {
  const uint64_t a = rng.next();
  const uint64_t b = rng.next();
  char text[40];
  std::snprintf(text, sizeof text, "%08x-%04x-4%03x-%04x-%012llx", static_cast<unsigned>(a >> 32),
                static_cast<unsigned>((a >> 16) & 0xffff), static_cast<unsigned>(a & 0xfff),
                static_cast<unsigned>(0x8000 | ((b >> 48) & 0x3fff)),
                static_cast<unsigned long long>(b & 0xffffffffffffull));
  return text;
}

std::vector<float> unit_vector(Rng& rng, int64_t dim) {
  std::vector<float> v(static_cast<size_t>(dim));
  double norm = 0;
  for (float& x : v) {
    x = static_cast<float>(rng.normal());
    norm += static_cast<double>(x) * x;
  }
  norm = std::sqrt(norm);
  if (norm > 0) {
    for (float& x : v) x = static_cast<float>(x / norm);
  }
  return v;
}

// Real NLQ templates whose slot X is an object: the text, with %s for X, and verb_x.
struct Template {
  const char* name;
  const char* text;
  const char* verb;
};
const Template kTemplates[] = {
    {"Objects: Where is object X?", "Where is %s?", ""},
    {"Objects: In what location did I see object X ?", "In what location did I see %s?", "see"},
    {"Objects: Where is my object X?", "Where is my %s?", ""},
    {"Place: Where did I put X?", "Where did I put %s?", "put"},
    {"Objects: Where is object X before / after event Y?", "Where was %s before I moved it?",
     "moved"},
    {"Objects: What did I put in X?", "What did I put in %s?", "put"},
};

std::string object_name(int64_t label_id) {
  char text[32];
  std::snprintf(text, sizeof text, "object_%03lld", static_cast<long long>(label_id));
  return text;
}

bool is_test(const std::string& subset) {
  std::string s = subset;
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s == "test";
}

int64_t frame(double seconds) { return std::llround(seconds * kVideoFps); }

// Three decimals, as the layout's times: keeps the JSON short and the values exact enough.
double ms(double seconds) { return std::round(seconds * 1000.0) / 1000.0; }

}  // namespace

SynthTextGenerator::SynthTextGenerator(int64_t dim, int64_t num_classes, uint64_t seed,
                                       SynthTextModel model)
    : dim_(dim), num_classes_(num_classes), seed_(seed), model_(model) {
  if (dim_ < 1) throw Error("--text-dim", "must be at least 1");
  if (num_classes_ < 1) throw Error("synth", "the number of classes must be at least 1");
  if (model_.min_tokens < 1 || model_.max_tokens < model_.min_tokens || model_.min_content < 1 ||
      model_.max_content < model_.min_content || model_.function_words < 1) {
    throw Error("synth", "bad text model: token counts must be positive and min <= max");
  }
  for (int64_t c = 0; c < num_classes_; ++c) {
    Rng rng(mix(mix(seed_, "text"), static_cast<uint64_t>(c)));
    prototypes_.push_back(unit_vector(rng, dim_));
  }
  for (int64_t w = 0; w < model_.function_words; ++w) {
    Rng rng(mix(mix(seed_, "text-word"), static_cast<uint64_t>(w)));
    function_words_.push_back(unit_vector(rng, dim_));
  }
}

const std::vector<float>& SynthTextGenerator::prototype(int64_t label_id) const {
  return prototypes_.at(static_cast<size_t>(label_id));
}

const std::vector<float>& SynthTextGenerator::function_word(int64_t index) const {
  return function_words_.at(static_cast<size_t>(index));
}

FeatureMatrix SynthTextGenerator::render(const std::string& key, int64_t label_id) const {
  if (label_id < 0 || label_id >= num_classes_) {
    throw Error(key, "label id " + std::to_string(label_id) + " is outside 0.." +
                         std::to_string(num_classes_ - 1));
  }
  Rng rng(mix(mix(seed_, "text"), key));
  const int64_t length = model_.min_tokens + rng.below(model_.max_tokens - model_.min_tokens + 1);
  const int64_t content =
      std::min(length, model_.min_content + rng.below(model_.max_content - model_.min_content + 1));
  // Which tokens carry the class: the first `content` of a random permutation.
  std::vector<int64_t> order(static_cast<size_t>(length));
  for (int64_t i = 0; i < length; ++i) order[static_cast<size_t>(i)] = i;
  for (int64_t i = length - 1; i > 0; --i) {
    std::swap(order[static_cast<size_t>(i)], order[static_cast<size_t>(rng.below(i + 1))]);
  }
  std::vector<bool> carries(static_cast<size_t>(length), false);
  for (int64_t i = 0; i < content; ++i)
    carries[static_cast<size_t>(order[static_cast<size_t>(i)])] = true;

  FeatureMatrix m(length, dim_);
  const double sigma = model_.noise / std::sqrt(static_cast<double>(dim_));
  const std::vector<float>& proto = prototype(label_id);
  for (int64_t t = 0; t < length; ++t) {
    const bool is_content = carries[static_cast<size_t>(t)];
    const std::vector<float>& base =
        is_content ? proto : function_word(rng.below(model_.function_words));
    const double scale = is_content ? model_.strength : 1.0;
    for (int64_t d = 0; d < dim_; ++d) {
      m.at(t, d) = static_cast<float>(scale * base[static_cast<size_t>(d)] + sigma * rng.normal());
    }
  }
  return m;
}

std::vector<SynthNlqQuery> draw_synth_queries(const Clip& clip, int64_t classes, uint64_t seed,
                                              int64_t max_queries) {
  if (max_queries < 1) throw Error("--queries-per-clip", "must be at least 1");
  const std::vector<Segment> shown = synth_shown_segments(clip, classes, seed);
  std::map<int64_t, int> per_class;
  for (const Segment& s : shown) ++per_class[s.label_id];
  // Unambiguous answers first: the instances of classes shown once. Then, when they are too
  // few, one instance of each class shown several times (its other instances look like the
  // answer too). Never two queries about one class, never a window under a frame.
  std::vector<const Segment*> unique, repeated;
  std::map<int64_t, bool> taken;
  for (const Segment& s : shown) {
    if (!(s.end - s.start > kNlqEmptyWindow)) continue;
    if (per_class[s.label_id] == 1) {
      unique.push_back(&s);
    } else if (!taken[s.label_id]) {
      taken[s.label_id] = true;
      repeated.push_back(&s);
    }
  }
  Rng rng(mix(mix(seed, "nlq-queries"), clip.clip_id));
  const int64_t low = (max_queries + 1) / 2;
  const int64_t wanted = low + rng.below(max_queries - low + 1);
  // A random choice within each group (partial Fisher-Yates shuffles), unique ones first.
  const auto choose = [&rng](std::vector<const Segment*>& v, int64_t k) {
    k = std::min<int64_t>(k, static_cast<int64_t>(v.size()));
    for (int64_t i = 0; i < k; ++i) {
      const int64_t j = i + rng.below(static_cast<int64_t>(v.size()) - i);
      std::swap(v[static_cast<size_t>(i)], v[static_cast<size_t>(j)]);
    }
    v.resize(static_cast<size_t>(k));
  };
  choose(unique, wanted);
  choose(repeated, wanted - static_cast<int64_t>(unique.size()));
  std::vector<const Segment*> candidates = unique;
  candidates.insert(candidates.end(), repeated.begin(), repeated.end());
  const auto n = static_cast<int64_t>(candidates.size());
  std::vector<SynthNlqQuery> out;
  std::string annotation_uid;
  for (int64_t i = 0; i < n; ++i) {
    if (i % kQueriesPerAnnotation == 0) annotation_uid = uuid(rng);
    const Segment& s = *candidates[static_cast<size_t>(i)];
    const Template& t = kTemplates[rng.below(static_cast<int64_t>(std::size(kTemplates)))];
    SynthNlqQuery q;
    q.annotation_uid = annotation_uid;
    q.query_idx = i % kQueriesPerAnnotation;
    q.label_id = s.label_id;
    q.start = s.start;
    q.end = s.end;
    q.template_name = t.name;
    q.slot_x = object_name(s.label_id);
    char text[160];
    std::snprintf(text, sizeof text, t.text, q.slot_x.c_str());
    q.query = text;
    q.verb_x = t.verb;
    out.push_back(std::move(q));
  }
  return out;
}

std::string synth_nlq_file_name(const std::string& subset) {
  if (subset == "train" || subset == "val") return "nlq_" + subset + ".json";
  if (is_test(subset)) return "nlq_test_unannotated.json";
  return "nlq_" + subset + ".json";
}

std::string synth_nlq_json(const ClipAnnotations& layout,
                           const std::vector<std::vector<SynthNlqQuery>>& queries,
                           const std::string& subset, uint64_t seed) {
  if (queries.size() != layout.clips.size()) {
    throw Error("synth", "one query list per clip expected");
  }
  const bool test = is_test(subset);
  Json videos = Json::array();
  std::map<std::string, size_t> video_index;
  for (size_t i = 0; i < layout.clips.size(); ++i) {
    const Clip& c = layout.clips[i];
    if (c.subset != subset) continue;
    const auto [it, added] = video_index.emplace(c.video_id, videos.size());
    if (added) videos.push_back(Json{{"video_uid", c.video_id}, {"clips", Json::array()}});
    Rng rng(mix(mix(seed, "nlq-source"), c.clip_id));
    Json clip = Json::object();
    clip["clip_uid"] = c.clip_id;
    clip["video_start_sec"] = c.parent_start_sec;
    clip["video_end_sec"] = c.parent_end_sec;
    clip["video_start_frame"] = frame(c.parent_start_sec);
    clip["video_end_frame"] = frame(c.parent_end_sec);
    clip["clip_start_sec"] = 0.0;
    clip["clip_end_sec"] = c.duration;
    clip["clip_start_frame"] = 0;
    clip["clip_end_frame"] = frame(c.duration);
    clip["source_clip_uid"] = uuid(rng);
    Json annotations = Json::array();
    for (const SynthNlqQuery& q : queries[i]) {
      if (annotations.empty() || annotations.back()["annotation_uid"] != q.annotation_uid) {
        annotations.push_back(
            Json{{"annotation_uid", q.annotation_uid}, {"language_queries", Json::array()}});
      }
      Json lq = Json::object();
      if (!test) {
        lq["clip_start_sec"] = q.start;
        lq["clip_end_sec"] = q.end;
        lq["video_start_sec"] = ms(c.parent_start_sec + q.start);
        lq["video_end_sec"] = ms(c.parent_start_sec + q.end);
        lq["video_start_frame"] = frame(c.parent_start_sec + q.start);
        lq["video_end_frame"] = frame(c.parent_start_sec + q.end);
      }
      lq["template"] = q.template_name;
      lq["query"] = q.query;
      lq["slot_x"] = q.slot_x;
      lq["verb_x"] = q.verb_x.empty() ? Json(nullptr) : Json(q.verb_x);
      lq["slot_y"] = nullptr;
      lq["verb_y"] = nullptr;
      lq["raw_tags"] =
          Json::array({q.template_name, q.query, q.slot_x,
                       q.verb_x.empty() ? Json(nullptr) : Json(q.verb_x), nullptr, nullptr});
      annotations.back()["language_queries"].push_back(std::move(lq));
    }
    clip["annotations"] = std::move(annotations);
    videos[it->second]["clips"].push_back(std::move(clip));
  }
  Json root = Json::object();
  root["version"] = "v1";
  root["date"] = "synthetic";
  root["description"] =
      "asl synth --task nlq, seed " + std::to_string(seed) + ": made-up ids and queries";
  root["manifest"] = "";
  root["videos"] = std::move(videos);
  return root.dump(-1, ' ', false, Json::error_handler_t::replace) + "\n";
}

}  // namespace asl::data
