#include "eval/predictions.h"

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <charconv>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <optional>
#include <string_view>
#include <unordered_map>
#include <utility>

#include "core/error.h"
#include "core/fs.h"
#include "core/mapped_file.h"
#include "eval/json_scanner.h"

// Prediction files read in one pass over their bytes with json::Scanner (no JSON tree), the
// values checked as nlohmann's reader checked them.
namespace asl::eval {
namespace {

using json::Kind;
using json::line_and_column;
using json::kind_name;
using json::SyntaxError;

// One entry's members as read, checked afterwards in the order the DOM reader checked them.
struct EntryFields {
  std::optional<Kind> label, score, segment;
  size_t segment_size = 0;
  Kind segment_items[2] = {Kind::kNumber, Kind::kNumber};

  // The first problem, or empty.
  std::string problem() const {
    if (!label) return "missing key 'label'";
    if (*label != Kind::kString) return std::string("label is ") + kind_name(*label) + ", expected a string";
    if (!score) return "missing key 'score'";
    if (*score != Kind::kNumber) return std::string("score is ") + kind_name(*score) + ", expected a number";
    if (!segment) return "missing key 'segment'";
    if (*segment != Kind::kArray || segment_size != 2) return "segment must be [start, end] in seconds";
    for (int k = 0; k < 2; ++k) {
      if (segment_items[k] != Kind::kNumber) {
        return "segment[" + std::to_string(k) + "] is " + kind_name(segment_items[k]) +
               ", expected a number";
      }
    }
    return {};
  }
};

// A problem with a value of the right JSON but the wrong shape. It is kept, not thrown, while
// the rest of the file is parsed: malformed JSON anywhere is reported first, as the DOM reader
// did. It does not name the results key, so a section can serve two keys (see parse_bytes).
struct Problem {
  enum Level { kSection, kClip, kEntry } level;
  std::string clip_id;
  size_t entry = 0;
  std::string text;

  Error error(const std::string& file, const std::string& key) const {
    switch (level) {
      case kSection: return Error(file, key + text);
      case kClip: return Error(file, key + "." + clip_id + text);
      case kEntry: break;
    }
    return Error(file + ": " + key + "." + clip_id + "[" + std::to_string(entry) + "]", text);
  }
};

// One results object ({clip: [...]}) as read.
struct Section {
  std::shared_ptr<PredictionList> list = std::make_shared<PredictionList>();
  std::optional<Problem> not_an_object;
  std::map<size_t, Problem> clip_problems;  // by clip place: the first place is reported

  const Problem* first_problem() const {
    if (not_an_object) return &*not_an_object;
    if (!clip_problems.empty()) return &clip_problems.begin()->second;
    return nullptr;
  }
};

class SectionReader {
 public:
  explicit SectionReader(json::Scanner& parser) : p_(parser) {}

  Section read() {
    Section s;
    const Kind kind = p_.next_kind();
    if (kind != Kind::kObject) {
      s.not_an_object = Problem{Problem::kSection, "", 0,
                                std::string(" is ") + kind_name(kind) +
                                    ", expected an object keyed by clip id"};
      p_.skip_value();
      return s;
    }
    std::unordered_map<std::string, size_t> place;  // clip id -> index in the list
    if (!p_.begin_container('{', '}')) return s;
    do {
      const std::string clip_id(p_.key());
      const auto [it, fresh] = place.emplace(clip_id, s.list->size());
      if (fresh) {
        s.list->push_back(ClipPredictions{clip_id, {}});
      } else {
        // Python's json (and the DOM reader) keep the last list, at the first place.
        (*s.list)[it->second].predictions.clear();
        s.clip_problems.erase(it->second);
      }
      read_clip((*s.list)[it->second], it->second, s);
    } while (p_.next_in_container('}'));
    return s;
  }

 private:
  void read_clip(ClipPredictions& clip, size_t place, Section& s) {
    const Kind kind = p_.next_kind();
    if (kind != Kind::kArray) {
      s.clip_problems.emplace(place, Problem{Problem::kClip, clip.clip_id, 0,
                                             std::string(" is ") + kind_name(kind) +
                                                 ", expected a list of predictions"});
      p_.skip_value();
      return;
    }
    if (!p_.begin_container('[', ']')) return;
    bool problem = false;
    size_t index = 0;
    do {
      Prediction pred;
      std::string found = read_entry(pred);
      if (!found.empty() && !problem) {
        problem = true;
        s.clip_problems.emplace(place, Problem{Problem::kEntry, clip.clip_id, index, std::move(found)});
      }
      clip.predictions.push_back(std::move(pred));
      ++index;
    } while (p_.next_in_container(']'));
  }

  // Reads one entry into `pred`; returns its problem, if any.
  std::string read_entry(Prediction& pred) {
    const Kind kind = p_.next_kind();
    if (kind != Kind::kObject) {
      p_.skip_value();
      return std::string("is ") + kind_name(kind) + ", expected an object";
    }
    EntryFields f;
    if (p_.begin_container('{', '}')) {
      do {
        const std::string_view k = p_.key();
        if (k == "label") {
          f.label = p_.next_kind();
          if (*f.label == Kind::kString) pred.label.assign(p_.string());
          else p_.skip_value();
        } else if (k == "score") {
          f.score = p_.next_kind();
          if (*f.score == Kind::kNumber) pred.score = p_.number();
          else p_.skip_value();
        } else if (k == "segment") {
          read_segment(pred, f);
        } else {
          p_.skip_value();
        }
      } while (p_.next_in_container('}'));
    }
    return f.problem();
  }

  void read_segment(Prediction& pred, EntryFields& f) {
    f.segment = p_.next_kind();
    f.segment_size = 0;
    f.segment_items[0] = f.segment_items[1] = Kind::kNumber;
    if (*f.segment != Kind::kArray) {
      p_.skip_value();
      return;
    }
    if (!p_.begin_container('[', ']')) return;
    do {
      const Kind item = p_.next_kind();
      if (f.segment_size < 2) f.segment_items[f.segment_size] = item;
      if (item == Kind::kNumber && f.segment_size < 2) {
        (f.segment_size == 0 ? pred.start : pred.end) = p_.number();
      } else {
        p_.skip_value();
      }
      ++f.segment_size;
    } while (p_.next_in_container(']'));
  }

  json::Scanner& p_;
};

bool is_results_key(const std::string& key) {
  return key == "results" || key == "detect_results" || key == "retrieve_results";
}

PredictionFile parse_bytes(const char* begin, const char* end, const std::string& where) {
  // The last value of each results key. Files that this project writes, and most others,
  // give both tasks the same list: a results object whose bytes equal an earlier one's is
  // the same value (an object ends at its own closing brace), so it is read once.
  std::map<std::string, std::shared_ptr<const Section>> sections;
  std::vector<std::pair<std::string_view, std::shared_ptr<const Section>>> read_objects;
  bool top_level_object = false;
  try {
    json::Scanner p(begin, end);
    top_level_object = p.next_kind() == Kind::kObject;
    if (!top_level_object) {
      p.skip_value();
    } else if (p.begin_container('{', '}')) {
      do {
        const std::string key(p.key());
        if (!is_results_key(key)) {
          p.skip_value();
          continue;
        }
        p.skip_whitespace();
        const char* at = p.position();
        std::shared_ptr<const Section> section;
        for (const auto& [bytes, earlier] : read_objects) {
          if (static_cast<size_t>(end - at) >= bytes.size() &&
              std::memcmp(at, bytes.data(), bytes.size()) == 0) {
            section = earlier;
            p.advance(bytes.size());
            break;
          }
        }
        if (!section) {
          section = std::make_shared<const Section>(SectionReader(p).read());
          if (*at == '{') {
            read_objects.emplace_back(std::string_view(at, static_cast<size_t>(p.position() - at)), section);
          }
        }
        sections[key] = std::move(section);
      } while (p.next_in_container('}'));
    }
    p.skip_whitespace();
    if (!p.at_end()) p.fail("unexpected content after the top-level value");
  } catch (const SyntaxError& e) {
    throw Error(where, "malformed JSON: " + line_and_column(begin, e.offset) + ": " + e.problem,
                "is this a prediction file?");
  }
  if (!top_level_object) throw Error(where, "expected a JSON object at the top level");

  const auto list_of = [&](const std::string& key) -> std::shared_ptr<const PredictionList> {
    const Section& s = *sections.at(key);
    if (const Problem* problem = s.first_problem()) throw problem->error(where, key);
    return s.list;
  };
  PredictionFile file;
  const bool detect = sections.count("detect_results"), retrieve = sections.count("retrieve_results");
  if (detect || retrieve) {
    if (!detect) throw Error(where, "missing key 'detect_results'", "the challenge layout needs both tasks");
    if (!retrieve) throw Error(where, "missing key 'retrieve_results'", "the challenge layout needs both tasks");
    file.detection = list_of("detect_results");
    file.retrieval = list_of("retrieve_results");
  } else if (sections.count("results")) {
    file.detection = file.retrieval = list_of("results");
  } else {
    throw Error(where, "missing key 'detect_results' and 'retrieve_results' (or 'results')",
                "expected {\"detect_results\": {CLIP: [{label, score, segment}]}, ...}, "
                "see docs/evaluation.md");
  }
  return file;
}

}  // namespace

PredictionFile parse_predictions(const std::string& text, const std::string& where) {
  return parse_bytes(text.data(), text.data() + text.size(), where);
}

PredictionFile read_predictions(const std::string& path) {
  const MappedFile file(path);
  return parse_bytes(file.begin(), file.end(), path);
}

}  // namespace asl::eval
