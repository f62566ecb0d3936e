// Natural Language Queries (NLQ): the official Ego4D NLQ annotation files (nlq_train.json,
// nlq_val.json, nlq_test_unannotated.json: videos -> clips -> annotations ->
// language_queries) and this project's query list, one entry per query keyed by
// (clip_uid, annotation_uid, query_idx) (docs/nlq.md). Tensor-free.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "data/annotations.h"

namespace asl::data {

struct NlqQuery {
  std::string clip_uid;
  std::string annotation_uid;
  int64_t query_idx = 0;       // index in the annotation's language_queries (official order)
  std::string video_uid;
  std::string subset;          // train | val | test
  double duration = 0;         // the clip's length, seconds (its clip_end_sec - clip_start_sec)
  double fps = 0;              // features per second
  std::string query;           // the question's text
  std::string template_name;   // "template" (may be empty)
  std::string slot_x;
  std::string verb_x;
  bool has_window = false;     // test queries have none
  double start = 0;            // answer window, clip-relative seconds (clip_start_sec)
  double end = 0;              //                                        (clip_end_sec)

  // "<clip_uid>_<annotation_uid>_<query_idx>": names the query's text features (store group
  // text/, or <key>.pt / <key>.npy) and its entry in the query list.
  std::string key() const;
};

// The key of a (clip_uid, annotation_uid, query_idx) triple (NlqQuery::key()).
std::string nlq_query_key(const std::string& clip_uid, const std::string& annotation_uid,
                          int64_t query_idx);

struct NlqQueries {
  std::vector<NlqQuery> queries;  // file order

  const NlqQuery* find(const std::string& key) const;  // nullptr when absent
  // Queries whose subset (case-insensitive) is one of `subsets`, in file order.
  std::vector<const NlqQuery*> select(const std::vector<std::string>& subsets) const;
};

// The query list file `asl convert --nlq` writes and training reads (docs/nlq.md):
// {"task": "nlq", "version": 1, "queries": [{...}, ...]}. Errors name the file, the query key
// and the field.
NlqQueries read_nlq_queries(const std::string& path);
// Written atomically (temporary file, then rename).
void write_nlq_queries(const NlqQueries& queries, const std::string& path);

// Whether `path` holds a query list (its top-level "task" is "nlq"), without reading it all.
bool is_nlq_query_file(const std::string& path);

// The queries as the clip layout the dataset, loader, trainer and predictor take: one Clip per
// query, clip_id = the query key, feature_id = clip_uid, one segment [start, end] labelled
// "answer" (label id 0) when the query has its window.
ClipAnnotations nlq_as_clips(const NlqQueries& queries);

// The clips whose video features a query list needs, once each (clip_id = clip_uid, its
// duration and fps), in first-seen order: what `asl pack --annotations QUERY_LIST` packs. Per-
// video feature files need the clips' places in their videos, which a query list does not
// hold: pack per-clip files for NLQ.
ClipAnnotations nlq_feature_clips(const NlqQueries& queries);

struct NlqConvertOptions {
  // nlq_train.json, nlq_val.json, nlq_test_unannotated.json, ...: the subset of each file is
  // taken from its name (train / val / test) unless given as SUBSET=PATH.
  std::vector<std::string> files;
  double feature_fps = 1.875;  // features per second, written as each query's fps
  // Keep train/val windows with 0 <= end - start <= kNlqEmptyWindow (the official evaluator
  // counts them). Reversed windows (end < start) are dropped either way.
  bool keep_empty_windows = false;
};

// A window this short (seconds: one frame of the 30 fps video) is "empty"; the official
// baseline's --remove_empty_queries_from drops |end - start| <= 1/30 s.
constexpr double kNlqEmptyWindow = 1.0 / 30.0;

struct NlqConvertReport {
  NlqQueries queries;
  int64_t dropped_no_text = 0;       // query missing, null or blank
  // train/val: end - start <= kNlqEmptyWindow (empty, under a frame, or reversed); with
  // keep_empty_windows only the reversed ones (end < start).
  int64_t dropped_empty_window = 0;
};

// Reads the official files; errors name the file, the clip / annotation / query and the key.
NlqConvertReport convert_nlq(const NlqConvertOptions& options);
// convert_nlq, then write_nlq_queries(out): bad input leaves `out` as it was.
NlqConvertReport convert_nlq_to_file(const NlqConvertOptions& options, const std::string& out);
// A few lines: queries per subset, clips, dropped queries and why.
std::string describe(const NlqConvertReport& report);

}  // namespace asl::data
