// `asl synth`: a synthetic Ego4D-shaped dataset whose labels are learnable (the generative
// model, its parameters and why they are what they are: docs/synth.md). Deterministic for
// a seed. Tensor-free.
//
// Three layers, each usable alone:
//   - the layout: which clips, durations, segments, labels and subsets (drawn from
//     distributions fitted to the real annotations, or taken from a template file);
//   - the generator: one timeline's per-stream features from the instances it shows;
//   - synthesize(): both, written as clip annotations plus a store or feature files.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "data/annotations.h"
#include "data/feature_io.h"
#include "data/store.h"

namespace asl::data {

struct SynthOptions {
  std::string out_dir;
  std::string template_path;          // clip annotations to reuse; empty: draw clips
  int64_t clips = 64;                 // number of clips (a subset of the template's)
  int64_t classes = 110;              // label ids 0..classes-1
  std::vector<StreamInfo> streams;    // e.g. egovlp:256, internvideo:1024
  uint64_t seed = 0;
  std::string write = "h5";           // h5 (a store) | pt | npy (one file per clip)
  bool per_video = false;             // pt/npy: one file per canonical video instead
  DType dtype = DType::F16;
  double feature_fps = 1.8741513727840071;
  // "mq": clip annotations. "nlq": the official NLQ files (nlq_train.json, nlq_val.json,
  // nlq_test_unannotated.json) asking about the same clips' instances, and each query's text
  // features (store group text/, or text/<key>.<pt|npy>).
  std::string task = "mq";
  int64_t text_dim = 128;             // nlq: width of the text tokens
  int64_t queries_per_clip = 6;       // nlq: at most this many queries per clip
};

struct SynthReport {
  int64_t clips = 0;
  int64_t instances = 0;
  std::string annotations_path;       // out_dir/clip_annotations.json
  std::vector<std::string> outputs;   // the store, or one folder per stream
  int64_t classes = 0;
  std::map<std::string, int64_t> clips_per_subset;
  int64_t videos = 0;                 // canonical videos the clips come from
  int64_t feature_files = 0;          // files written per stream (pt/npy), or 1 (h5)
  double seconds = 0;
  // nlq: the official files written (annotations_path is then empty), and the queries.
  std::vector<std::string> nlq_files;
  int64_t queries = 0;
  std::map<std::string, int64_t> queries_per_subset;
};

// Parses "NAME:DIM,NAME:DIM"; throws asl::Error naming the bad entry.
std::vector<StreamInfo> parse_streams(const std::string& spec);

SynthReport synthesize(const SynthOptions& options);

// A few lines for the terminal: clips per subset, instances, classes, streams, outputs.
std::string format_synth_report(const SynthReport& report, const SynthOptions& options);

// ---- Layout ---------------------------------------------------------------------------

// Feature rows of a clip (or a canonical video) of `seconds` at `fps`: round(seconds * fps),
// at least 1. Row r covers [r / fps, (r + 1) / fps). (cut_to_clip of per-video features
// takes every row a clip overlaps, so it gives 0 to 2 rows more.)
int64_t synth_rows(double seconds, double fps);

// `clips` clips drawn from distributions fitted to the Ego4D MQ v1 annotations, grouped in
// canonical videos, subsets about 70/20/10 (train/val/test; test clips carry no annotations,
// as in the real file). A clip depends only on (seed, its position): asking for more clips
// appends clips and changes none of the earlier ones.
ClipAnnotations draw_synth_clips(int64_t clips, int64_t classes, uint64_t seed, double fps);

// Template clips for a synthetic dataset. With `classes` below the template's label count,
// keeps the `classes` most frequent labels (instance counts over the whole file, ties by
// label id), renumbered 0.. by that rank, and drops the other instances and the train/val
// clips left without any; otherwise keeps every label and its id. Then keeps `clips` of the
// clips (all when there are fewer), stratified by subset: each subset's share is kept
// (largest remainders), the clips of a subset chosen in an order given by hashing (seed,
// clip id). File order is kept and every clip's fps is set to `fps`. `where` names the
// template in errors (asking for more classes than it has labels).
ClipAnnotations select_template_clips(const ClipAnnotations& templ, int64_t clips,
                                      int64_t classes, uint64_t seed, double fps,
                                      const std::string& where);

// What a clip's features show: its annotations or, for a clip without any (the unannotated
// test split), instances drawn like a synthetic clip's from (seed, clip id), so that test
// features look like the others while their ground truth stays hidden.
std::vector<Segment> synth_shown_segments(const Clip& clip, int64_t classes, uint64_t seed);

// ---- Generator ------------------------------------------------------------------------

// The generative model's parameters; docs/synth.md explains each value.
struct SynthModel {
  double noise = 1.0;                  // white noise, std per channel
  double stream_bias = 0.5;            // a fixed mean per stream, std per channel
  double timeline_bias = 0.3;          // an offset per clip or video, std per channel
  double drift = 0.5;                  // the slow background, std per channel
  int drift_components = 3;            // sinusoids with periods drawn in:
  double drift_min_period = 60.0;      //   seconds
  double drift_max_period = 480.0;
  double strong_snr = 6.0;             // an instance's amplitude along its class direction
  double weak_snr = 2.0;               //   (noise 1: in noise std): strong streams / the last
  double shared = 0.5;                 // share of a prototype's energy common to all classes
  double variation = 0.3;              // per-timeline change of a prototype (relative norm)
  double gain_min = 0.8;               // per-instance strength, uniform in [min, max]
  double gain_max = 1.2;
  double ramp = 1.0;                   // onset/offset width, seconds (at most half the instance)
  double distractor_rate = 1.0 / 120;  // distractors per second of timeline (Poisson)
  double distractor_strength = 0.4;    // relative to an instance's
  double distractor_median_len = 2.0;  // seconds (log-normal, log-std below)
  double distractor_log_std = 0.5;
  double distractor_clearance = 2.0;   // seconds kept free around every instance
};

// One burst of a class pattern on a timeline: an instance (strength = its gain) or a
// distractor (strength = distractor_strength times a gain).
struct SynthEvent {
  double start = 0;   // seconds on the timeline
  double end = 0;
  int64_t label_id = 0;
  double strength = 1;
  bool distractor = false;
};

// Renders timelines. Prototypes are fixed by (seed, stream name, class), so they do not
// depend on the number of classes or on the other streams; everything a timeline draws is
// seeded by (seed, key, stream name), the key being its clip or video id.
class SynthGenerator {
 public:
  SynthGenerator(std::vector<StreamInfo> streams, int64_t num_classes, uint64_t seed,
                 SynthModel model = {});

  const std::vector<StreamInfo>& streams() const { return streams_; }
  int64_t num_classes() const { return num_classes_; }
  const SynthModel& model() const { return model_; }

  // The unit-length direction of a class in a stream (before a timeline's variation).
  const std::vector<float>& prototype(int64_t stream, int64_t label_id) const;
  // strong_snr, or weak_snr for the last stream when there are several.
  double snr(int64_t stream) const;

  // The soft envelope of an instance [start, end] at time t: 0 outside, 1 inside, smooth
  // ramps of width min(ramp, (end - start) / 2) centred on the boundaries (0.5 there).
  static double envelope(double start, double end, double ramp, double t);

  // A timeline's events: its instances with their gains, then distractors of uniformly
  // drawn classes placed where no instance is (distractor_clearance plus a ramp away).
  std::vector<SynthEvent> events(const std::string& key, double duration,
                                 const std::vector<Segment>& instances) const;

  // Per-stream features (rows x dim) of the timeline `key` showing `events`.
  std::vector<FeatureMatrix> render_events(const std::string& key, int64_t rows, double fps,
                                           const std::vector<SynthEvent>& events) const;

  // events() then render_events() over rows / fps seconds.
  std::vector<FeatureMatrix> render(const std::string& key, int64_t rows, double fps,
                                    const std::vector<Segment>& instances) const;

 private:
  std::vector<StreamInfo> streams_;
  int64_t num_classes_;
  uint64_t seed_;
  SynthModel model_;
  std::vector<std::vector<std::vector<float>>> prototypes_;  // [stream][class][dim]
  std::vector<std::vector<float>> stream_bias_;              // [stream][dim]
};

// ---- Natural Language Queries (--task nlq) -------------------------------------------

// The query text model; docs/synth.md explains each value.
struct SynthTextModel {
  int64_t min_tokens = 4;        // L, uniform in [min_tokens, max_tokens]
  int64_t max_tokens = 12;
  int64_t min_content = 1;       // tokens carrying the class, uniform in [min, max] (at most L)
  int64_t max_content = 3;
  double strength = 1.0;         // norm of the class prototype in a content token
  int64_t function_words = 16;   // the "function word" vectors of the other tokens (unit norm)
  double noise = 0.5;            // norm of each token's noise (std noise / sqrt(D) per channel)
};

// Query text features: L x dim tokens, a few of them the class's text prototype (a unit
// vector fixed by (seed, "text", class)) plus noise, the others function words plus noise.
// Everything a query draws is seeded by (seed, its key).
class SynthTextGenerator {
 public:
  SynthTextGenerator(int64_t dim, int64_t num_classes, uint64_t seed, SynthTextModel model = {});

  int64_t dim() const { return dim_; }
  const SynthTextModel& model() const { return model_; }
  const std::vector<float>& prototype(int64_t label_id) const;
  const std::vector<float>& function_word(int64_t index) const;
  // The text features of the query `key` asking about `label_id`.
  FeatureMatrix render(const std::string& key, int64_t label_id) const;

 private:
  int64_t dim_;
  int64_t num_classes_;
  uint64_t seed_;
  SynthTextModel model_;
  std::vector<std::vector<float>> prototypes_;      // [class][dim]
  std::vector<std::vector<float>> function_words_;  // [word][dim]
};

// One synthetic language query of a clip.
struct SynthNlqQuery {
  std::string annotation_uid;
  int64_t query_idx = 0;      // position in its annotation's language_queries
  int64_t label_id = 0;       // the class it asks about
  double start = 0;           // its answer: the instance's [start, end], clip seconds
  double end = 0;
  std::string template_name;  // one of the real templates
  std::string query;          // e.g. "Where did I put object_003?"
  std::string slot_x;         // "object_003"
  std::string verb_x;
};

// The queries of a clip, on the instances its features show (synth_shown_segments), chosen
// at random from (seed, clip id): their number uniform in [ceil(max_queries / 2),
// max_queries]; instances whose class occurs once in the clip (an unambiguous answer) first,
// then, if too few, one instance per class shown several times; never two queries about one
// class nor a window of a frame or less (kNlqEmptyWindow). Grouped in annotations of at most
// 3 queries (uuids from the seed).
std::vector<SynthNlqQuery> draw_synth_queries(const Clip& clip, int64_t classes, uint64_t seed,
                                              int64_t max_queries);

// nlq_train.json, nlq_val.json, nlq_test_unannotated.json; nlq_<subset>.json for others.
std::string synth_nlq_file_name(const std::string& subset);

// The official NLQ layout of the clips of `subset` (`queries` per clip of `layout`): videos in
// order of first appearance, clip times from the layout (clip_start_sec 0, clip_end_sec =
// duration), query windows as clip_start_sec / clip_end_sec; test files carry text only.
std::string synth_nlq_json(const ClipAnnotations& layout,
                           const std::vector<std::vector<SynthNlqQuery>>& queries,
                           const std::string& subset, uint64_t seed);

}  // namespace asl::data
