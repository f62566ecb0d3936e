// Clip annotations: the processed, clip-level layout that ASL/ActionFormer trainers read
// (see tests/data/ego4d/README.md): a JSON object keyed by clip id. Tensor-free.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace asl::data {

struct Segment {
  double start = 0;   // seconds, clip-relative
  double end = 0;
  std::string label;
  int64_t label_id = -1;
};

struct Clip {
  std::string clip_id;
  std::string video_id;
  std::string subset;            // train | val | test
  double duration = 0;           // seconds
  double parent_start_sec = 0;   // clip start in the canonical video
  double parent_end_sec = 0;
  double v_duration = 0;         // canonical video duration
  double fps = 0;                // feature rate (features per second)
  std::vector<Segment> annotations;
  // Where the features are stored when that is not clip_id: a Natural Language Query is a
  // "clip" of its own (clip_id = its query key) over its clip's features (data/nlq.h).
  std::string feature_id;

  const std::string& feature_key() const { return feature_id.empty() ? clip_id : feature_id; }
};

// ASCII lower case; whether a subset name is the test split (any case).
std::string lower_ascii(const std::string& s);
bool is_test_subset(const std::string& subset);

// The items (clips, queries) whose `subset` is one of `subsets`, case-insensitive, in order.
template <class Item>
std::vector<const Item*> select_subsets(const std::vector<Item>& items,
                                        const std::vector<std::string>& subsets);

struct ClipAnnotations {
  std::vector<Clip> clips;       // file order

  const Clip* find(const std::string& clip_id) const;  // nullptr when absent
  // Clips whose subset (case-insensitive) is one of `subsets`, in file order.
  std::vector<const Clip*> select(const std::vector<std::string>& subsets) const;
  // label name -> label id over all clips, as the reference builds its label_dict.
  std::map<std::string, int64_t> label_dict() const;
};

// How far (seconds) a segment may reach outside [0, duration] of its clip. The Ego4D MQ v1
// annotations overshoot by up to 7.2 s: annotators marked the nominal 480 s end of clips that
// are shorter (docs/annotations.md). Anything further out is a wrong clip or wrong units.
constexpr double kSegmentTolerance = 8.0;

// Reads and validates a clip-annotation file. Errors name the file, the clip and the key:
// malformed JSON, missing or ill-typed fields, segments with end < start or outside the
// clip (beyond kSegmentTolerance), negative label ids, label ids inconsistent with label
// names, a train/val clip without annotations, a clip id given twice.
ClipAnnotations read_clip_annotations(const std::string& path);

// Writes the layout atomically (temporary file, then rename), keys in `clips` order.
void write_clip_annotations(const ClipAnnotations& annotations, const std::string& path);

// The reference's remove_duplicate_annotations: drops an annotation whose start and end are
// within 1e-3 s of an earlier kept one's and whose label_id is the same. Order is kept.
std::vector<Segment> remove_duplicate_annotations(const std::vector<Segment>& segments);

// A one-screen summary (clips per subset, instances, classes, durations).
std::string summarize(const ClipAnnotations& annotations);

// ---- implementation ----

template <class Item>
std::vector<const Item*> select_subsets(const std::vector<Item>& items,
                                        const std::vector<std::string>& subsets) {
  std::vector<std::string> wanted;
  for (const auto& s : subsets) wanted.push_back(lower_ascii(s));
  std::vector<const Item*> out;
  for (const Item& item : items) {
    const std::string subset = lower_ascii(item.subset);
    for (const auto& w : wanted) {
      if (w == subset) {
        out.push_back(&item);
        break;
      }
    }
  }
  return out;
}

}  // namespace asl::data
