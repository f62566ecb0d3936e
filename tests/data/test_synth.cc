// `asl synth`: the generator on in-memory matrices (envelopes worked by hand, determinism,
// independence, a signal that an independent nearest-prototype classifier finds), the
// layout (drawn statistics, template reuse, stratification, class reduction) and the
// written dataset (files that load back, write modes, bad options leaving nothing behind).
#include <gtest/gtest.h>

#include "common/test_util.h"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "core/error.h"
#include "core/fs.h"
#include "data/annotations.h"
#include "data/feature_io.h"
#include "data/store.h"
#include "data/synth.h"
#include "../cli/run.h"

namespace asl::data {
namespace {

using asl::testing::error_of;

namespace fs = std::filesystem;

constexpr double kFps = 1.8741513727840071;
const std::string kTemplate = std::string(ASL_SOURCE_DIR) + "/tests/data/ego4d/clip_annotations.json";

Segment seg(double start, double end, int64_t label) {
  Segment s;
  s.start = start;
  s.end = end;
  s.label_id = label;
  s.label = "action_" + std::to_string(label);
  return s;
}

double dot(const float* a, const std::vector<float>& b) {
  double s = 0;
  for (size_t i = 0; i < b.size(); ++i) s += static_cast<double>(a[i]) * b[i];
  return s;
}

// A model without background, noise or randomness in strength: features are exactly the
// class directions times the envelopes.
SynthModel clean_model() {
  SynthModel m;
  m.noise = m.stream_bias = m.timeline_bias = m.drift = m.variation = 0;
  m.gain_min = m.gain_max = 1;
  m.distractor_rate = 0;
  return m;
}

std::string fresh_dir(const std::string& name) {
  const std::string dir = ::testing::TempDir() + "synth_" + name;
  fs::remove_all(dir);
  return dir;
}

// ---- Generator ------------------------------------------------------------------------

TEST(SynthEnvelope, HandWorkedValues) {
  // [10, 20] with a 1 s ramp: 0.5 on the boundaries, 1 inside, 0 half a ramp outside.
  EXPECT_DOUBLE_EQ(SynthGenerator::envelope(10, 20, 1, 10), 0.5);
  EXPECT_DOUBLE_EQ(SynthGenerator::envelope(10, 20, 1, 20), 0.5);
  EXPECT_DOUBLE_EQ(SynthGenerator::envelope(10, 20, 1, 15), 1.0);
  EXPECT_DOUBLE_EQ(SynthGenerator::envelope(10, 20, 1, 10.5), 1.0);
  EXPECT_DOUBLE_EQ(SynthGenerator::envelope(10, 20, 1, 9.5), 0.0);
  EXPECT_DOUBLE_EQ(SynthGenerator::envelope(10, 20, 1, 25), 0.0);
  // 9.75: x = -0.25 + 0.5 = 0.25, smoothstep = x^2 (3 - 2x) = 0.0625 * 2.5.
  EXPECT_DOUBLE_EQ(SynthGenerator::envelope(10, 20, 1, 9.75), 0.15625);
  // A 0.6 s instance gets a 0.3 s ramp: full at its centre, 0.5 at its start.
  EXPECT_DOUBLE_EQ(SynthGenerator::envelope(10, 10.6, 1, 10.3), 1.0);
  EXPECT_DOUBLE_EQ(SynthGenerator::envelope(10, 10.6, 1, 10.0), 0.5);
  EXPECT_DOUBLE_EQ(SynthGenerator::envelope(10, 10, 1, 10), 0.0);  // empty instance
}

TEST(SynthGenerator, CleanModelIsDirectionTimesRowAveragedEnvelope) {
  const SynthGenerator g({{"a", 16}, {"b", 8}}, 4, 7, clean_model());
  const double fps = 2.0;  // rows of 0.5 s
  const auto m = g.render("clip", 60, fps, {seg(10, 20, 1)});
  ASSERT_EQ(m.size(), 2u);
  for (size_t s = 0; s < 2; ++s) {
    const std::vector<float>& p = g.prototype(static_cast<int64_t>(s), 1);
    const double snr = s == 0 ? 6.0 : 2.0;  // the last of several streams is the weak one
    EXPECT_DOUBLE_EQ(g.snr(static_cast<int64_t>(s)), snr);
    for (int64_t r = 0; r < 60; ++r) {
      // Row r covers [r / 2, (r + 1) / 2): the mean of the envelope at 4 points in it.
      double env = 0;
      for (int j = 0; j < 4; ++j) {
        const double t = (r + (j + 0.5) / 4) / fps;
        const double x_in = std::clamp(t - 10 + 0.5, 0.0, 1.0);
        const double x_out = std::clamp(20 - t + 0.5, 0.0, 1.0);
        env += x_in * x_in * (3 - 2 * x_in) * x_out * x_out * (3 - 2 * x_out) / 4;
      }
      for (size_t d = 0; d < p.size(); ++d) {
        ASSERT_NEAR(m[s].at(r, static_cast<int64_t>(d)), snr * env * p[d], 1e-5)
            << "stream " << s << " row " << r << " channel " << d;
      }
    }
  }
  // Row 20 covers [10, 10.5): the onset, visibly between 0 and full strength.
  const double onset = dot(&m[0].values[20 * 16], g.prototype(0, 1));
  EXPECT_GT(onset, 0.5 * 6 * 0.5);
  EXPECT_LT(onset, 0.95 * 6);
}

TEST(SynthGenerator, SameClassTakesTheMaximumDifferentClassesAddUp) {
  const SynthGenerator g({{"a", 12}}, 3, 1, clean_model());
  const auto once = g.render("k", 40, 2.0, {seg(5, 12, 0)});
  const auto duplicated = g.render("k", 40, 2.0, {seg(5, 12, 0), seg(5, 12, 0), seg(6, 11, 0)});
  EXPECT_EQ(once[0].values, duplicated[0].values);  // annotator duplicates do not add up
  const auto other = g.render("k", 40, 2.0, {seg(8, 16, 2)});
  const auto both = g.render("k", 40, 2.0, {seg(5, 12, 0), seg(8, 16, 2)});
  for (size_t i = 0; i < both[0].values.size(); ++i) {
    ASSERT_NEAR(both[0].values[i], once[0].values[i] + other[0].values[i], 1e-5);
  }
}

TEST(SynthGenerator, ShapesFollowTheStreams) {
  const SynthGenerator g({{"egovlp", 64}, {"slowfast", 48}, {"internvideo", 32}}, 8, 0);
  const auto m = g.render("x", 123, kFps, {seg(3, 9, 2)});
  ASSERT_EQ(m.size(), 3u);
  EXPECT_EQ(m[0].rows, 123);
  EXPECT_EQ(m[0].cols, 64);
  EXPECT_EQ(m[1].cols, 48);
  EXPECT_EQ(m[2].cols, 32);
  for (const FeatureMatrix& f : m) {
    EXPECT_EQ(f.values.size(), static_cast<size_t>(f.rows * f.cols));
    for (const float v : f.values) ASSERT_TRUE(std::isfinite(v));
  }
  EXPECT_EQ(g.snr(0), g.snr(1));
  EXPECT_LT(g.snr(2), g.snr(0));
}

TEST(SynthGenerator, DeterministicForASeedAndDifferentAcrossSeeds) {
  const std::vector<StreamInfo> streams = {{"a", 32}, {"b", 16}};
  const std::vector<Segment> segments = {seg(4, 30, 1), seg(20, 22, 3)};
  const auto a = SynthGenerator(streams, 5, 11).render("clip-1", 200, kFps, segments);
  const auto b = SynthGenerator(streams, 5, 11).render("clip-1", 200, kFps, segments);
  const auto c = SynthGenerator(streams, 5, 12).render("clip-1", 200, kFps, segments);
  const auto d = SynthGenerator(streams, 5, 11).render("clip-2", 200, kFps, segments);
  for (size_t s = 0; s < 2; ++s) {
    EXPECT_EQ(a[s].values, b[s].values);
    EXPECT_NE(a[s].values, c[s].values);
    EXPECT_NE(a[s].values, d[s].values);  // another clip id: other noise and background
  }
}

TEST(SynthGenerator, AStreamDoesNotDependOnOtherStreamsOrTheClassCount) {
  const std::vector<Segment> segments = {seg(4, 30, 1)};
  const auto one = SynthGenerator({{"a", 32}, {"z", 8}}, 4, 3).render("c", 100, kFps, segments);
  const auto two = SynthGenerator({{"a", 32}, {"b", 16}, {"z", 8}}, 4, 3).render("c", 100, kFps, segments);
  EXPECT_EQ(one[0].values, two[0].values);
  EXPECT_EQ(one[1].values, two[2].values);
  EXPECT_EQ(SynthGenerator({{"a", 32}}, 4, 3).prototype(0, 2),
            SynthGenerator({{"a", 32}}, 110, 3).prototype(0, 2));
}

TEST(SynthGenerator, PrototypesAreUnitVectorsSharingAComponent) {
  const SynthGenerator g({{"a", 256}}, 6, 5);
  for (int64_t c = 0; c < 6; ++c) {
    EXPECT_NEAR(dot(g.prototype(0, c).data(), g.prototype(0, c)), 1.0, 1e-5);
  }
  // shared = 0.5: distinct classes have a cosine of about 0.5 (256 channels: +-0.1).
  for (int64_t c = 1; c < 6; ++c) {
    EXPECT_NEAR(dot(g.prototype(0, 0).data(), g.prototype(0, c)), 0.5, 0.12);
  }
}

TEST(SynthGenerator, EventsKeepGainsAndPlaceDistractorsAwayFromInstances) {
  const SynthGenerator g({{"a", 8}}, 10, 2);
  const SynthModel& m = g.model();
  int64_t distractors = 0;
  const int kClips = 200;
  for (int i = 0; i < kClips; ++i) {
    const std::vector<Segment> instances = {seg(100, 130, 1), seg(300, 302, 4)};
    const auto events = g.events("clip-" + std::to_string(i), 480, instances);
    ASSERT_GE(events.size(), 2u);
    for (size_t k = 0; k < 2; ++k) {
      EXPECT_FALSE(events[k].distractor);
      EXPECT_EQ(events[k].start, instances[k].start);
      EXPECT_EQ(events[k].label_id, instances[k].label_id);
      EXPECT_GE(events[k].strength, m.gain_min);
      EXPECT_LE(events[k].strength, m.gain_max);
    }
    for (size_t k = 2; k < events.size(); ++k) {
      const SynthEvent& e = events[k];
      EXPECT_TRUE(e.distractor);
      EXPECT_GE(e.strength, m.distractor_strength * m.gain_min - 1e-12);
      EXPECT_LE(e.strength, m.distractor_strength * m.gain_max + 1e-12);
      EXPECT_GE(e.start, 0);
      EXPECT_LE(e.end, 480);
      EXPECT_LT(e.label_id, 10);
      for (const Segment& s : instances) {
        EXPECT_TRUE(e.end <= s.start - m.distractor_clearance || e.start >= s.end + m.distractor_clearance)
            << e.start << ".." << e.end << " near " << s.start << ".." << s.end;
      }
      ++distractors;
    }
  }
  // Poisson with mean 480 s / 120 s = 4 per clip (a few placements fail near instances).
  const double mean = static_cast<double>(distractors) / kClips;
  EXPECT_GT(mean, 3.0);
  EXPECT_LT(mean, 4.5);
}

// The labels are learnable: projected on its class direction, a stream is much larger
// inside instances than outside, in proportion to the stream's strength.
TEST(SynthGenerator, ProjectionOnTheClassIsHighInsideInstancesOnly) {
  const SynthGenerator g({{"strong", 64}, {"weak", 32}}, 8, 9);
  const std::vector<Segment> segments = {seg(20, 60, 3), seg(150, 200, 3), seg(300, 340, 3)};
  std::vector<double> gap;
  for (size_t s = 0; s < 2; ++s) {
    double inside = 0, outside = 0;
    int64_t n_in = 0, n_out = 0;
    for (int clip = 0; clip < 8; ++clip) {
      const auto m = g.render("c" + std::to_string(clip), 900, kFps, segments);
      for (int64_t r = 0; r < 900; ++r) {
        const double t = (r + 0.5) / kFps;
        const double proj = dot(&m[s].values[static_cast<size_t>(r * m[s].cols)], g.prototype(static_cast<int64_t>(s), 3));
        bool in = false, near = false;
        for (const Segment& x : segments) {
          in |= t > x.start + 1 && t < x.end - 1;
          near |= t > x.start - 3 && t < x.end + 3;
        }
        if (in) {
          inside += proj;
          ++n_in;
        } else if (!near) {
          outside += proj;
          ++n_out;
        }
      }
    }
    gap.push_back(inside / n_in - outside / n_out);
  }
  // The gain averages 1 and the per-clip variation shortens the projection a little.
  EXPECT_NEAR(gap[0], 6.0, 0.8);
  EXPECT_NEAR(gap[1], 2.0, 0.5);
}

// An independent check that the labels can be learnt: a nearest-prototype classifier of
// single time steps (the clip's mean removed, score = projection on each class direction)
// is right most of the time on the strong stream and clearly less often on the weak one.
TEST(SynthGenerator, NearestPrototypeClassifiesStepsWellOnTheStrongStreamOnly) {
  const int64_t kClasses = 8;
  const SynthGenerator g({{"strong", 64}, {"weak", 32}}, kClasses, 4);
  std::vector<int64_t> right(2, 0);
  int64_t total = 0;
  for (int clip = 0; clip < 6; ++clip) {
    std::vector<Segment> segments;
    for (int64_t c = 0; c < kClasses; ++c) segments.push_back(seg(10 + 55.0 * c, 40 + 55.0 * c, (c + clip) % kClasses));
    const auto m = g.render("clip" + std::to_string(clip), 900, kFps, segments);
    for (size_t s = 0; s < 2; ++s) {
      const int64_t dim = m[s].cols;
      std::vector<double> mean(static_cast<size_t>(dim), 0.0);
      for (int64_t r = 0; r < m[s].rows; ++r) {
        for (int64_t d = 0; d < dim; ++d) mean[static_cast<size_t>(d)] += m[s].at(r, d) / m[s].rows;
      }
      for (int64_t r = 0; r < m[s].rows; ++r) {
        const double t = (r + 0.5) / kFps;
        int64_t truth = -1;
        for (const Segment& x : segments) {
          if (t > x.start + 1 && t < x.end - 1) truth = x.label_id;
        }
        if (truth < 0) continue;
        int64_t best = 0;
        double best_score = -1e30;
        for (int64_t c = 0; c < kClasses; ++c) {
          const std::vector<float>& p = g.prototype(static_cast<int64_t>(s), c);
          double score = 0;
          for (int64_t d = 0; d < dim; ++d) score += (m[s].at(r, d) - mean[static_cast<size_t>(d)]) * p[static_cast<size_t>(d)];
          if (score > best_score) {
            best_score = score;
            best = c;
          }
        }
        right[s] += best == truth;
        if (s == 0) ++total;
      }
    }
  }
  const double strong = static_cast<double>(right[0]) / total;
  const double weak = static_cast<double>(right[1]) / total;
  EXPECT_GT(strong, 0.9) << "strong " << strong << " weak " << weak;
  EXPECT_LT(weak, strong - 0.2) << "strong " << strong << " weak " << weak;
  EXPECT_GT(weak, 2.0 / kClasses) << "weak " << weak;  // well above chance
}

TEST(SynthGenerator, BackgroundDriftsSlowly) {
  SynthModel model;
  model.noise = 0;
  model.distractor_rate = 0;
  const SynthGenerator g({{"a", 64}}, 2, 8, model);
  const auto m = g.render("quiet", 900, kFps, {});
  // Neighbouring rows differ by far less than rows minutes apart.
  double near = 0, far = 0;
  for (int64_t r = 0; r + 300 < 900; ++r) {
    for (int64_t d = 0; d < 64; ++d) {
      near += std::abs(m[0].at(r + 1, d) - m[0].at(r, d));
      far += std::abs(m[0].at(r + 300, d) - m[0].at(r, d));
    }
  }
  EXPECT_LT(near * 20, far);
}

// ---- Layout ---------------------------------------------------------------------------

TEST(SynthStreams, ParsesNamesAndDimensions) {
  const auto s = parse_streams("egovlp:256,internvideo:1024");
  ASSERT_EQ(s.size(), 2u);
  EXPECT_EQ(s[0].name, "egovlp");
  EXPECT_EQ(s[0].dim, 256);
  EXPECT_EQ(s[1].name, "internvideo");
  EXPECT_EQ(s[1].dim, 1024);
}

TEST(SynthStreams, BadSpecsNameTheEntryAndTheProblem) {
  struct Bad {
    std::string spec, entry, problem;
  };
  const std::vector<Bad> bad = {
      {"egovlp", "egovlp", "missing ':'"},
      {"egovlp:0", "egovlp:0", "between 1 and 65536"},
      {"egovlp:abc", "egovlp:abc", "positive whole number"},
      {"a:8,b:-3", "b:-3", "positive whole number"},
      {":64", ":64", "empty stream name"},
      {"a:8,a:16", "a:16", "given twice"},
      {"a:8,,b:4", "", "missing ':'"},
      {"eg/vlp:8", "eg/vlp:8", "letters, digits"},
  };
  for (const Bad& b : bad) {
    SCOPED_TRACE(b.spec);
    const std::string m = error_of([&] { parse_streams(b.spec); });
    EXPECT_HAS(m, "--features '" + b.entry + "'");
    EXPECT_HAS(m, b.problem);
    EXPECT_HAS(m, "NAME:DIM");
  }
  EXPECT_HAS(error_of([] { parse_streams(""); }), "no streams");
}

TEST(SynthRows, RoundsDurationTimesRate) {
  EXPECT_EQ(synth_rows(480, kFps), 900);  // 899.59
  EXPECT_EQ(synth_rows(182, kFps), 341);  // 341.09
  EXPECT_EQ(synth_rows(0.1, kFps), 1);
}

TEST(SynthLayout, DrawnClipsAreDeterministicAndDoNotDependOnTheCount) {
  const ClipAnnotations small = draw_synth_clips(10, 8, 5, kFps);
  const ClipAnnotations large = draw_synth_clips(25, 8, 5, kFps);
  const ClipAnnotations other = draw_synth_clips(10, 8, 6, kFps);
  ASSERT_EQ(small.clips.size(), 10u);
  ASSERT_EQ(large.clips.size(), 25u);
  for (size_t i = 0; i < 10; ++i) {
    const Clip& a = small.clips[i];
    const Clip& b = large.clips[i];
    EXPECT_EQ(a.clip_id, b.clip_id);
    EXPECT_EQ(a.video_id, b.video_id);
    EXPECT_EQ(a.subset, b.subset);
    EXPECT_EQ(a.duration, b.duration);
    EXPECT_EQ(a.parent_start_sec, b.parent_start_sec);
    EXPECT_EQ(a.v_duration, b.v_duration);
    ASSERT_EQ(a.annotations.size(), b.annotations.size());
    for (size_t k = 0; k < a.annotations.size(); ++k) {
      EXPECT_EQ(a.annotations[k].start, b.annotations[k].start);
      EXPECT_EQ(a.annotations[k].end, b.annotations[k].end);
      EXPECT_EQ(a.annotations[k].label_id, b.annotations[k].label_id);
    }
    EXPECT_NE(a.clip_id, other.clips[i].clip_id);
  }
}

TEST(SynthLayout, DrawnClipsFollowTheRealStatistics) {
  const int64_t kClasses = 20;
  const ClipAnnotations a = draw_synth_clips(3000, kClasses, 1, kFps);
  std::map<std::string, int64_t> subsets;
  std::map<std::string, std::set<std::string>> subsets_of_video;
  std::set<std::string> ids;
  int64_t full = 0, annotated = 0, instances = 0;
  std::vector<double> lengths;
  std::vector<int64_t> per_label(kClasses, 0);
  for (const Clip& c : a.clips) {
    EXPECT_TRUE(ids.insert(c.clip_id).second) << "clip id twice: " << c.clip_id;
    EXPECT_EQ(c.clip_id.size(), 36u);
    ++subsets[c.subset];
    subsets_of_video[c.video_id].insert(c.subset);
    EXPECT_GE(c.duration, 182);
    EXPECT_LE(c.duration, 480);
    full += c.duration == 480;
    EXPECT_DOUBLE_EQ(c.fps, kFps);
    EXPECT_NEAR(c.parent_end_sec - c.parent_start_sec, c.duration, 1e-9);
    EXPECT_GE(c.v_duration, c.parent_end_sec);
    if (c.subset == "test") {
      EXPECT_TRUE(c.annotations.empty());  // unannotated, as in the real file
      continue;
    }
    ++annotated;
    EXPECT_FALSE(c.annotations.empty());
    for (const Segment& s : c.annotations) {
      EXPECT_GE(s.start, 0);
      EXPECT_GT(s.end, s.start);
      EXPECT_LE(s.end, c.duration);
      ASSERT_GE(s.label_id, 0);
      ASSERT_LT(s.label_id, kClasses);
      ++per_label[static_cast<size_t>(s.label_id)];
      lengths.push_back(s.end - s.start);
      ++instances;
    }
  }
  for (const auto& [video, s] : subsets_of_video) EXPECT_EQ(s.size(), 1u) << video;
  const double n = static_cast<double>(a.clips.size());
  EXPECT_NEAR(subsets["train"] / n, 0.7, 0.04);
  EXPECT_NEAR(subsets["val"] / n, 0.2, 0.04);
  EXPECT_NEAR(subsets["test"] / n, 0.1, 0.04);
  EXPECT_NEAR(full / n, 0.87, 0.03);
  EXPECT_NEAR(static_cast<double>(instances) / annotated, 8.9, 1.0);  // real: 8.9
  std::sort(lengths.begin(), lengths.end());
  EXPECT_NEAR(lengths[lengths.size() / 2], 8.8, 1.5);  // real median: 8.8 s
  EXPECT_GT(per_label[0], 3 * per_label[5]);           // frequent labels first
  EXPECT_GT(per_label[kClasses - 1], 0);
}

ClipAnnotations hand_template() {
  // 10 train, 5 val, 5 test clips; labels 5 (10 instances), 2 and 9 (7 each), 0 (1).
  ClipAnnotations t;
  for (int i = 0; i < 20; ++i) {
    Clip c;
    c.clip_id = "clip" + std::to_string(i);
    c.video_id = "video" + std::to_string(i / 2);
    c.subset = i < 10 ? "train" : i < 15 ? "val" : "test";
    c.duration = 100 + i;
    c.parent_end_sec = c.duration;
    c.v_duration = 300;
    c.fps = 1.875;
    t.clips.push_back(c);
  }
  auto add = [&](int clip, int64_t label, double start) {
    t.clips[static_cast<size_t>(clip)].annotations.push_back(seg(start, start + 5, label));
  };
  for (int i = 0; i < 10; ++i) add(i, 5, 1);               // label 5 in every train clip
  for (int i = 10; i < 15; ++i) add(i, 2, 2);              // label 2 in every val clip...
  add(10, 2, 30), add(11, 2, 30);                          // ...7 in all
  for (int i = 10; i < 15; ++i) add(i, 9, 40);             // label 9: 5 in val...
  add(0, 9, 40), add(1, 9, 50);                            // ...and 2 in train
  add(2, 0, 60);                                           // label 0: once
  return t;
}

TEST(SynthLayout, TemplateKeepsTheMostFrequentLabelsRenumberedByFrequency) {
  const ClipAnnotations t = hand_template();
  const ClipAnnotations two = select_template_clips(t, 100, 2, 0, kFps, "tmpl.json");
  // Label 5 -> 0; 2 and 9 tie at 7: the lower id (2) wins -> 1. Instances of 9 and 0 go.
  // Val clips keep label 2; every clip keeps an instance, so all 20 stay.
  ASSERT_EQ(two.clips.size(), 20u);
  for (const Clip& c : two.clips) {
    for (const Segment& s : c.annotations) {
      EXPECT_TRUE((s.label_id == 0 && s.label == "action_5") || (s.label_id == 1 && s.label == "action_2"))
          << c.clip_id << " " << s.label << " " << s.label_id;
    }
    EXPECT_DOUBLE_EQ(c.fps, kFps);
  }
  EXPECT_EQ(two.clips[0].annotations.size(), 1u);  // 5 kept, 9 dropped

  // One class (label 5): the val clips are left without instances and dropped; the test
  // clips stay.
  const ClipAnnotations one = select_template_clips(t, 100, 1, 0, kFps, "tmpl.json");
  std::map<std::string, int> subsets;
  for (const Clip& c : one.clips) ++subsets[c.subset];
  EXPECT_EQ(subsets["train"], 10);
  EXPECT_EQ(subsets["val"], 0);
  EXPECT_EQ(subsets["test"], 5);

  // All four labels: ids {0, 2, 5, 9} do not fit below 4, so renumbered by frequency.
  const std::map<int64_t, int64_t> by_frequency = {{5, 0}, {2, 1}, {9, 2}, {0, 3}};
  const ClipAnnotations all = select_template_clips(t, 100, 4, 0, kFps, "tmpl.json");
  ASSERT_EQ(all.clips.size(), 20u);
  for (size_t i = 0; i < 20; ++i) {
    ASSERT_EQ(all.clips[i].annotations.size(), t.clips[i].annotations.size());
    for (size_t k = 0; k < t.clips[i].annotations.size(); ++k) {
      EXPECT_EQ(all.clips[i].annotations[k].label_id,
                by_frequency.at(t.clips[i].annotations[k].label_id));
    }
  }
  // Ids that fit (0..3) are kept as they are, whatever the frequencies.
  ClipAnnotations fitting = t;
  const std::map<int64_t, int64_t> to_small = {{5, 3}, {2, 0}, {9, 1}, {0, 2}};
  for (Clip& c : fitting.clips) {
    for (Segment& s : c.annotations) s.label_id = to_small.at(s.label_id);
  }
  const ClipAnnotations kept = select_template_clips(fitting, 100, 4, 0, kFps, "tmpl.json");
  ASSERT_EQ(kept.clips.size(), 20u);
  for (size_t i = 0; i < 20; ++i) {
    for (size_t k = 0; k < fitting.clips[i].annotations.size(); ++k) {
      EXPECT_EQ(kept.clips[i].annotations[k].label_id, fitting.clips[i].annotations[k].label_id);
    }
  }
  const std::string m = error_of([&] { select_template_clips(t, 100, 5, 0, kFps, "tmpl.json"); });
  EXPECT_HAS(m, "tmpl.json");
  EXPECT_HAS(m, "4 labels");
  EXPECT_HAS(m, "--classes 4 or fewer");
}

TEST(SynthLayout, TemplateSubsetIsStratifiedAndKeepsFileOrder) {
  const ClipAnnotations t = hand_template();
  const ClipAnnotations eight = select_template_clips(t, 8, 4, 3, kFps, "t");
  std::map<std::string, int> subsets;
  for (const Clip& c : eight.clips) ++subsets[c.subset];
  EXPECT_EQ(subsets["train"], 4);  // 8 * 10/20
  EXPECT_EQ(subsets["val"], 2);    // 8 * 5/20
  EXPECT_EQ(subsets["test"], 2);
  // File order, and the clips themselves unchanged.
  std::vector<size_t> positions;
  for (const Clip& c : eight.clips) {
    const auto it = std::find_if(t.clips.begin(), t.clips.end(),
                                 [&](const Clip& x) { return x.clip_id == c.clip_id; });
    ASSERT_NE(it, t.clips.end());
    positions.push_back(static_cast<size_t>(it - t.clips.begin()));
    EXPECT_EQ(c.duration, it->duration);
    EXPECT_EQ(c.subset, it->subset);
    EXPECT_EQ(c.annotations.size(), it->annotations.size());
  }
  EXPECT_TRUE(std::is_sorted(positions.begin(), positions.end()));
  // 7 of 20: 3.5, 1.75, 1.75 -> 3 + 1 + 1, then the largest remainders (.75, .75): 3/2/2.
  const ClipAnnotations seven = select_template_clips(t, 7, 4, 3, kFps, "t");
  subsets.clear();
  for (const Clip& c : seven.clips) ++subsets[c.subset];
  EXPECT_EQ(subsets["train"] + subsets["val"] + subsets["test"], 7);
  EXPECT_EQ(subsets["train"], 3);
  // Without val clips left (one class), their places go to the other subsets.
  const ClipAnnotations no_val = select_template_clips(t, 8, 1, 3, kFps, "t");
  subsets.clear();
  for (const Clip& c : no_val.clips) ++subsets[c.subset];
  EXPECT_EQ(no_val.clips.size(), 8u);
  EXPECT_EQ(subsets["val"], 0);
  EXPECT_GE(subsets["train"], 4);
  EXPECT_GE(subsets["test"], 2);
  // Deterministic for a seed; another seed chooses other clips.
  const ClipAnnotations again = select_template_clips(t, 8, 4, 3, kFps, "t");
  const ClipAnnotations other = select_template_clips(t, 8, 4, 4, kFps, "t");
  std::vector<std::string> ids_a, ids_b, ids_c;
  for (const Clip& c : eight.clips) ids_a.push_back(c.clip_id);
  for (const Clip& c : again.clips) ids_b.push_back(c.clip_id);
  for (const Clip& c : other.clips) ids_c.push_back(c.clip_id);
  EXPECT_EQ(ids_a, ids_b);
  EXPECT_NE(ids_a, ids_c);
}

TEST(SynthLayout, UnannotatedClipsShowHiddenDrawnInstances) {
  Clip test;
  test.clip_id = "t1";
  test.subset = "test";
  test.duration = 480;
  const auto a = synth_shown_segments(test, 8, 1);
  EXPECT_FALSE(a.empty());
  for (const Segment& s : a) {
    EXPECT_GE(s.start, 0);
    EXPECT_LE(s.end, 480);
    EXPECT_LT(s.label_id, 8);
  }
  const auto b = synth_shown_segments(test, 8, 1);
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i) EXPECT_EQ(a[i].start, b[i].start);
  Clip train = test;
  train.annotations = {seg(1, 2, 3)};
  const auto c = synth_shown_segments(train, 8, 1);
  ASSERT_EQ(c.size(), 1u);
  EXPECT_EQ(c[0].start, 1);
}

// ---- The written dataset --------------------------------------------------------------

SynthOptions small_options(const std::string& dir) {
  SynthOptions o;
  o.out_dir = dir;
  o.clips = 6;
  o.classes = 5;
  o.streams = {{"a", 16}, {"b", 8}};
  o.seed = 3;
  o.dtype = DType::F32;
  return o;
}

void expect_same_clips(const ClipAnnotations& a, const ClipAnnotations& b) {
  ASSERT_EQ(a.clips.size(), b.clips.size());
  for (size_t i = 0; i < a.clips.size(); ++i) {
    const Clip& x = a.clips[i];
    const Clip& y = b.clips[i];
    SCOPED_TRACE(x.clip_id);
    EXPECT_EQ(x.clip_id, y.clip_id);
    EXPECT_EQ(x.video_id, y.video_id);
    EXPECT_EQ(x.subset, y.subset);
    EXPECT_DOUBLE_EQ(x.duration, y.duration);
    EXPECT_DOUBLE_EQ(x.parent_start_sec, y.parent_start_sec);
    EXPECT_DOUBLE_EQ(x.parent_end_sec, y.parent_end_sec);
    EXPECT_DOUBLE_EQ(x.v_duration, y.v_duration);
    ASSERT_EQ(x.annotations.size(), y.annotations.size());
    for (size_t k = 0; k < x.annotations.size(); ++k) {
      EXPECT_DOUBLE_EQ(x.annotations[k].start, y.annotations[k].start);
      EXPECT_DOUBLE_EQ(x.annotations[k].end, y.annotations[k].end);
      EXPECT_EQ(x.annotations[k].label, y.annotations[k].label);
      EXPECT_EQ(x.annotations[k].label_id, y.annotations[k].label_id);
    }
  }
}

std::vector<FeatureMatrix> expected_clip(const SynthOptions& o, const Clip& c) {
  const SynthGenerator g(o.streams, o.classes, o.seed);
  return g.render(c.clip_id, synth_rows(c.duration, o.feature_fps), o.feature_fps,
                  synth_shown_segments(c, o.classes, o.seed));
}

TEST(SynthDataset, StoreHoldsEveryClipAsGenerated) {
  SynthOptions o = small_options(fresh_dir("store"));
  const SynthReport report = synthesize(o);
  EXPECT_EQ(report.clips, 6);
  EXPECT_EQ(report.annotations_path, o.out_dir + "/clip_annotations.json");
  ASSERT_EQ(report.outputs.size(), 1u);
  EXPECT_EQ(report.outputs[0], o.out_dir + "/features.h5");

  const ClipAnnotations written = read_clip_annotations(report.annotations_path);
  expect_same_clips(written, draw_synth_clips(6, 5, 3, o.feature_fps));
  int64_t instances = 0;
  for (const Clip& c : written.clips) {
    EXPECT_DOUBLE_EQ(c.fps, o.feature_fps);
    instances += static_cast<int64_t>(c.annotations.size());
  }
  EXPECT_EQ(report.instances, instances);

  const StoreReader store(report.outputs[0]);
  EXPECT_EQ(store.info().dtype, DType::F32);
  ASSERT_EQ(store.info().streams.size(), 2u);
  EXPECT_EQ(store.info().streams[1].name, "b");
  EXPECT_EQ(store.info().streams[1].dim, 8);
  EXPECT_EQ(store.clip_ids().size(), 6u);
  for (const Clip& c : written.clips) {
    const auto want = expected_clip(o, c);
    const auto got = store.read_clip(c.clip_id);
    ASSERT_EQ(got.size(), 2u);
    for (size_t s = 0; s < 2; ++s) {
      EXPECT_EQ(got[s].rows, synth_rows(c.duration, o.feature_fps));
      EXPECT_EQ(got[s].cols, o.streams[s].dim);
      EXPECT_EQ(got[s].values, want[s].values) << c.clip_id;
    }
  }
}

TEST(SynthDataset, HalfPrecisionStoresTheRoundedValues) {
  SynthOptions o = small_options(fresh_dir("f16"));
  o.dtype = DType::F16;
  o.clips = 2;
  synthesize(o);
  const ClipAnnotations written = read_clip_annotations(o.out_dir + "/clip_annotations.json");
  const StoreReader store(o.out_dir + "/features.h5");
  EXPECT_EQ(store.info().dtype, DType::F16);
  const auto want = expected_clip(o, written.clips[0]);
  const FeatureMatrix got = store.read(written.clips[0].clip_id, 0);
  ASSERT_EQ(got.values.size(), want[0].values.size());
  for (size_t i = 0; i < got.values.size(); ++i) {
    ASSERT_EQ(got.values[i], half_to_float(float_to_half(want[0].values[i]))) << i;
  }
}

TEST(SynthDataset, PerClipNpyAndPtFilesHoldTheClips) {
  for (const std::string format : {"npy", "pt"}) {
    SCOPED_TRACE(format);
    SynthOptions o = small_options(fresh_dir("per_clip_" + format));
    o.write = format;
    const SynthReport report = synthesize(o);
    EXPECT_EQ(report.feature_files, 6);
    ASSERT_EQ(report.outputs.size(), 2u);
    EXPECT_EQ(report.outputs[1], o.out_dir + "/b");
    EXPECT_FALSE(path_exists(o.out_dir + "/features.h5"));
    const ClipAnnotations written = read_clip_annotations(report.annotations_path);
    for (const Clip& c : written.clips) {
      const auto want = expected_clip(o, c);
      for (size_t s = 0; s < 2; ++s) {
        const FeatureMatrix got =
            read_feature_file(o.out_dir + "/" + o.streams[s].name + "/" + c.clip_id + "." + format);
        EXPECT_EQ(got.rows, want[s].rows);
        EXPECT_EQ(got.cols, want[s].cols);
        EXPECT_EQ(got.values, want[s].values);
      }
    }
    EXPECT_EQ(std::distance(fs::directory_iterator(o.out_dir + "/a"), fs::directory_iterator{}), 6);
  }
}

// Per video: one file per canonical video and stream, and each clip is a cut of its
// video (the store written with --per-video holds exactly those cuts).
TEST(SynthDataset, PerVideoFilesAreVideosWhoseCutsAreTheClips) {
  SynthOptions o = small_options(fresh_dir("per_video"));
  o.clips = 8;
  o.write = "npy";
  o.per_video = true;
  const SynthReport files = synthesize(o);
  SynthOptions h5 = o;
  h5.out_dir = fresh_dir("per_video_h5");
  h5.write = "h5";
  synthesize(h5);

  const ClipAnnotations written = read_clip_annotations(files.annotations_path);
  std::set<std::string> videos;
  for (const Clip& c : written.clips) videos.insert(c.video_id);
  EXPECT_EQ(files.videos, static_cast<int64_t>(videos.size()));
  EXPECT_EQ(files.feature_files, files.videos);
  EXPECT_LT(files.videos, files.clips);  // some videos hold several clips
  EXPECT_EQ(std::distance(fs::directory_iterator(o.out_dir + "/b"), fs::directory_iterator{}),
            files.videos);
  const StoreReader store(h5.out_dir + "/features.h5");
  for (const Clip& c : written.clips) {
    SCOPED_TRACE(c.clip_id);
    for (size_t s = 0; s < 2; ++s) {
      const FeatureMatrix video =
          read_npy(o.out_dir + "/" + o.streams[s].name + "/" + c.video_id + ".npy");
      EXPECT_EQ(video.rows, synth_rows(c.v_duration, o.feature_fps));
      const FeatureMatrix cut = cut_to_clip(video, c.parent_start_sec, c.parent_end_sec, o.feature_fps);
      EXPECT_NEAR(static_cast<double>(cut.rows), c.duration * o.feature_fps, 2.0);
      EXPECT_EQ(store.read(c.clip_id, static_cast<int64_t>(s)).values, cut.values);
    }
  }
  // The video shows its clips' instances at their video times: the projection on the class
  // of an instance (at least 4 s long) is high in the middle of it.
  const SynthGenerator g(o.streams, o.classes, o.seed);
  for (const Clip& c : written.clips) {
    const FeatureMatrix video = read_npy(o.out_dir + "/a/" + c.video_id + ".npy");
    for (const Segment& s : c.annotations) {
      if (s.end - s.start < 4) continue;
      const auto row = static_cast<int64_t>((c.parent_start_sec + 0.5 * (s.start + s.end)) * o.feature_fps);
      if (row >= video.rows) continue;
      EXPECT_GT(dot(&video.values[static_cast<size_t>(row * video.cols)], g.prototype(0, s.label_id)), 2.0)
          << c.clip_id << " " << s.start << ".." << s.end;
    }
  }
}

std::map<std::string, std::string> file_bytes(const std::string& dir) {
  std::map<std::string, std::string> out;
  for (const auto& e : fs::recursive_directory_iterator(dir)) {
    if (e.is_regular_file()) out[fs::relative(e.path(), dir).string()] = read_file(e.path().string());
  }
  return out;
}

TEST(SynthDataset, SameSeedSameBytesOtherSeedOtherBytes) {
  SynthOptions o = small_options(fresh_dir("seed_a"));
  o.write = "npy";
  o.dtype = DType::F16;
  synthesize(o);
  SynthOptions again = o;
  again.out_dir = fresh_dir("seed_b");
  synthesize(again);
  SynthOptions other = o;
  other.out_dir = fresh_dir("seed_c");
  other.seed = 4;
  synthesize(other);
  const auto a = file_bytes(o.out_dir);
  EXPECT_EQ(a.size(), 1u + 2 * 6);
  EXPECT_EQ(a, file_bytes(again.out_dir));
  const auto c = file_bytes(other.out_dir);
  EXPECT_NE(a.at("clip_annotations.json"), c.at("clip_annotations.json"));
  std::set<std::string> common;
  for (const auto& [name, bytes] : a) {
    if (c.count(name)) common.insert(name);
  }
  EXPECT_TRUE(common == std::set<std::string>{"clip_annotations.json"});  // new clip ids too
}

TEST(SynthDataset, AClipsFeaturesDoNotDependOnHowManyClipsAreDrawn) {
  SynthOptions few = small_options(fresh_dir("few"));
  few.write = "npy";
  few.clips = 3;
  synthesize(few);
  SynthOptions many = few;
  many.out_dir = fresh_dir("many");
  many.clips = 9;
  synthesize(many);
  const auto a = file_bytes(few.out_dir);
  const auto b = file_bytes(many.out_dir);
  int64_t shared = 0;
  for (const auto& [name, bytes] : a) {
    if (name == "clip_annotations.json") continue;
    ASSERT_TRUE(b.count(name)) << name;
    EXPECT_EQ(bytes, b.at(name)) << name;
    ++shared;
  }
  EXPECT_EQ(shared, 6);
}

// The real annotations as a template: the chosen clips keep everything but fps, and the
// subsets keep their shares.
TEST(SynthDataset, TemplateClipsAreReusedAsTheyAre) {
  const ClipAnnotations templ = read_clip_annotations(kTemplate);
  SynthOptions o = small_options(fresh_dir("template"));
  o.template_path = kTemplate;
  o.clips = 40;
  o.classes = 110;
  o.write = "npy";
  o.streams = {{"a", 4}};
  const SynthReport report = synthesize(o);
  EXPECT_EQ(report.clips, 40);
  const ClipAnnotations written = read_clip_annotations(report.annotations_path);
  ASSERT_EQ(written.clips.size(), 40u);
  ClipAnnotations originals;
  for (const Clip& c : written.clips) {
    const Clip* t = templ.find(c.clip_id);
    ASSERT_NE(t, nullptr) << c.clip_id;
    originals.clips.push_back(*t);
    EXPECT_TRUE(path_exists(o.out_dir + "/a/" + c.clip_id + ".npy"));
  }
  expect_same_clips(written, originals);
  // 40 of 1486 train, 521 val, 488 test (2495): 23.8, 8.4, 7.8 -> 24, 8, 8.
  std::map<std::string, int64_t> subsets;
  for (const Clip& c : written.clips) ++subsets[c.subset];
  EXPECT_EQ(subsets["train"], 24);
  EXPECT_EQ(subsets["val"], 8);
  EXPECT_EQ(subsets["test"], 8);
  EXPECT_EQ(report.clips_per_subset, subsets);
}

TEST(SynthDataset, TemplateWithFewerClassesKeepsTheMostFrequentLabels) {
  const ClipAnnotations templ = read_clip_annotations(kTemplate);
  // The 8 most frequent label names of the template, counted here.
  std::map<std::string, std::pair<int64_t, int64_t>> count;  // name -> (count, id)
  for (const Clip& c : templ.clips) {
    for (const Segment& s : c.annotations) {
      ++count[s.label].first;
      count[s.label].second = s.label_id;
    }
  }
  std::vector<std::tuple<int64_t, int64_t, std::string>> ranked;
  for (const auto& [name, n] : count) ranked.emplace_back(-n.first, n.second, name);
  std::sort(ranked.begin(), ranked.end());
  std::map<std::string, int64_t> rank;
  for (int64_t i = 0; i < 8; ++i) rank[std::get<2>(ranked[static_cast<size_t>(i)])] = i;

  SynthOptions o = small_options(fresh_dir("template8"));
  o.template_path = kTemplate;
  o.clips = 60;
  o.classes = 8;
  o.streams = {{"a", 4}};
  synthesize(o);
  const ClipAnnotations written = read_clip_annotations(o.out_dir + "/clip_annotations.json");
  ASSERT_EQ(written.clips.size(), 60u);
  std::map<std::string, int64_t> subsets;
  for (const Clip& c : written.clips) {
    ++subsets[c.subset];
    const Clip* t = templ.find(c.clip_id);
    ASSERT_NE(t, nullptr);
    if (c.subset != "test") {
      EXPECT_FALSE(c.annotations.empty()) << c.clip_id;
    }
    // The template's instances of the kept labels, in order, renumbered by rank.
    std::vector<Segment> want;
    for (const Segment& s : t->annotations) {
      if (rank.count(s.label)) want.push_back(s);
    }
    ASSERT_EQ(c.annotations.size(), want.size()) << c.clip_id;
    for (size_t k = 0; k < want.size(); ++k) {
      EXPECT_EQ(c.annotations[k].label, want[k].label);
      EXPECT_EQ(c.annotations[k].label_id, rank.at(want[k].label));
      EXPECT_DOUBLE_EQ(c.annotations[k].start, want[k].start);
    }
  }
  // 60 * (1486, 521, 488) / 2495 = 35.7, 12.5, 11.7 -> 36, 12, 12.
  EXPECT_EQ(subsets["train"], 36);
  EXPECT_EQ(subsets["val"], 12);
  EXPECT_EQ(subsets["test"], 12);
  const StoreReader store(o.out_dir + "/features.h5");
  EXPECT_EQ(store.clip_ids().size(), 60u);
}

// ---- Bad options ----------------------------------------------------------------------

TEST(SynthDataset, BadOptionsFailClearlyAndLeaveNothing) {
  struct Case {
    std::string name, needle, where;
    void (*change)(SynthOptions&);
  };
  const std::vector<Case> cases = {
      {"write", "unknown write mode 'hdf5'", "--write", [](SynthOptions& o) { o.write = "hdf5"; }},
      {"template", "template not found", "no_such.json",
       [](SynthOptions& o) { o.template_path = ::testing::TempDir() + "no_such.json"; }},
      {"classes", "--classes 110 or fewer", "clip_annotations.json",
       [](SynthOptions& o) { o.template_path = kTemplate, o.classes = 111; }},
      {"streams", "no streams", "--features", [](SynthOptions& o) { o.streams.clear(); }},
      {"clips", "at least 1", "--clips", [](SynthOptions& o) { o.clips = 0; }},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    SynthOptions o = small_options(fresh_dir("bad_" + c.name) + "/nested");
    c.change(o);
    const std::string m = error_of([&] { synthesize(o); });
    EXPECT_HAS(m, c.needle);
    EXPECT_HAS(m, c.where);
    EXPECT_FALSE(path_exists(fs::path(o.out_dir).parent_path().string())) << "left behind";
  }
  EXPECT_HAS(error_of([] {
               SynthOptions o = small_options(fresh_dir("bad_classes"));
               o.template_path = kTemplate;
               o.classes = 111;
               synthesize(o);
             }),
             "the template has 110 labels");
}

TEST(SynthDataset, AFailureHalfwayRemovesWhatTheRunWrote) {
  // A folder stands where the third clip's file of stream b goes: the run fails after
  // writing the first clips' files, and removes them and the folders it created.
  SynthOptions o = small_options(fresh_dir("halfway"));
  o.write = "npy";
  const std::string third = draw_synth_clips(6, o.classes, o.seed, o.feature_fps).clips[2].clip_id;
  const std::string blocker = o.out_dir + "/b/" + third + ".npy";
  make_dirs(blocker);
  const std::string m = error_of([&] { synthesize(o); });
  EXPECT_HAS(m, blocker);
  EXPECT_FALSE(path_exists(o.out_dir + "/a"));  // created by the run, with its files
  EXPECT_FALSE(path_exists(o.out_dir + "/clip_annotations.json"));
  EXPECT_EQ(std::distance(fs::directory_iterator(o.out_dir + "/b"), fs::directory_iterator{}), 1);
  EXPECT_TRUE(path_exists(blocker));  // not the run's
}

// ---- The command ----------------------------------------------------------------------

TEST(SynthCommand, WritesTheDatasetAndASummary) {
  const std::string dir = fresh_dir("cli");
  const testing::RunResult r =
      testing::run_asl({"synth", "--out", dir, "--clips", "4", "--classes", "3", "--features",
                        "x:8,y:4", "--seed", "9", "--write", "pt", "--per-video", "--dtype", "f32"});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_HAS(r.out, "4 clips");
  EXPECT_HAS(r.out, "3 classes");
  EXPECT_HAS(r.out, "x:8 y:4, f32");
  EXPECT_HAS(r.out, "per video");
  const ClipAnnotations written = read_clip_annotations(dir + "/clip_annotations.json");
  ASSERT_EQ(written.clips.size(), 4u);
  const FeatureMatrix video = read_pt(dir + "/y/" + written.clips[0].video_id + ".pt");
  EXPECT_EQ(video.cols, 4);
  EXPECT_EQ(video.rows, synth_rows(written.clips[0].v_duration, kFps));
}

TEST(SynthCommand, BadOptionsExitOneOnOneLineAndLeaveNothing) {
  const std::string dir = fresh_dir("cli_bad");
  const std::vector<std::pair<std::vector<std::string>, std::string>> cases = {
      {{"--features", "egovlp:256,internvideo"}, "--features 'internvideo': missing ':'"},
      {{"--template", ::testing::TempDir() + "missing.json"}, "missing.json: template not found"},
  };
  for (const auto& [extra, needle] : cases) {
    std::vector<std::string> args = {"synth", "--out", dir};
    args.insert(args.end(), extra.begin(), extra.end());
    const testing::RunResult r = testing::run_asl(args);
    EXPECT_EQ(r.code, 1);
    EXPECT_EQ(testing::count_lines(r.err), 1) << r.err;
    EXPECT_HAS(r.err, needle);
    EXPECT_FALSE(path_exists(dir));
  }
  const testing::RunResult r = testing::run_asl({"synth", "--out", dir, "--write", "hdf5"});
  EXPECT_EQ(r.code, 64);  // not one of h5|pt|npy: a usage error
  EXPECT_HAS(r.err, "--write");
  EXPECT_FALSE(path_exists(dir));
}

}  // namespace
}  // namespace asl::data

// ---- Natural Language Queries (--task nlq) ------------------------------------------------

#include "data/nlq.h"

namespace asl::data {
namespace {

SynthOptions nlq_options(const std::string& dir) {
  SynthOptions o = small_options(dir);
  o.task = "nlq";
  o.clips = 12;
  o.text_dim = 24;
  o.queries_per_clip = 4;
  return o;
}

std::vector<std::string> present(const std::vector<std::string>& files) {
  std::vector<std::string> out;
  for (const std::string& f : files) {
    if (path_exists(f)) out.push_back(f);
  }
  return out;
}

TEST(SynthNlq, OfficialFilesConvertAndEveryQueryHasItsText) {
  const SynthOptions o = nlq_options(fresh_dir("nlq"));
  const SynthReport report = synthesize(o);
  EXPECT_TRUE(report.annotations_path.empty());
  EXPECT_FALSE(path_exists(o.out_dir + "/clip_annotations.json"));
  const std::vector<std::string> all = {o.out_dir + "/nlq_train.json", o.out_dir + "/nlq_val.json",
                                        o.out_dir + "/nlq_test_unannotated.json"};
  // 12 drawn clips cover train, val and test.
  ASSERT_EQ(present(all), all);
  EXPECT_EQ(report.nlq_files, all);

  NlqConvertOptions convert;
  convert.files = all;
  convert.feature_fps = o.feature_fps;
  const NlqConvertReport converted = convert_nlq(convert);
  EXPECT_EQ(converted.dropped_no_text, 0);
  EXPECT_EQ(converted.dropped_empty_window, 0);
  const auto& queries = converted.queries.queries;
  ASSERT_EQ(static_cast<int64_t>(queries.size()), report.queries);
  EXPECT_GE(report.queries, 12);  // 2 to 4 per clip, fewer where a clip shows fewer classes
  EXPECT_EQ(report.queries_per_subset.at("test"),
            static_cast<int64_t>(converted.queries.select({"test"}).size()));

  const ClipAnnotations layout = draw_synth_clips(o.clips, o.classes, o.seed, o.feature_fps);
  const StoreReader store(report.outputs.at(0));
  EXPECT_EQ(store.info().text_dim, o.text_dim);
  EXPECT_EQ(store.info().num_texts, report.queries);
  EXPECT_EQ(store.clip_ids().size(), layout.clips.size());
  for (const NlqQuery& q : queries) {
    SCOPED_TRACE(q.key());
    // The text is in the store.
    ASSERT_TRUE(store.has_text(q.key()));
    const FeatureMatrix text = store.read_text(q.key());
    EXPECT_EQ(text.cols, o.text_dim);
    EXPECT_GE(text.rows, 4);
    EXPECT_LE(text.rows, 12);
    // The clip is the layout's, its features the MQ synth's.
    const Clip* clip = layout.find(q.clip_uid);
    ASSERT_NE(clip, nullptr);
    EXPECT_EQ(q.video_uid, clip->video_id);
    EXPECT_EQ(q.subset, clip->subset);
    EXPECT_DOUBLE_EQ(q.duration, clip->duration);
    EXPECT_EQ(store.rows(q.clip_uid, 0), synth_rows(clip->duration, o.feature_fps));
    // The window is one instance the clip shows, of a class it shows once, named by slot_x.
    const std::vector<Segment> shown = synth_shown_segments(*clip, o.classes, o.seed);
    const auto queries_of_clip = draw_synth_queries(*clip, o.classes, o.seed, o.queries_per_clip);
    const auto drawn = std::find_if(queries_of_clip.begin(), queries_of_clip.end(), [&](const SynthNlqQuery& s) {
      return s.annotation_uid == q.annotation_uid && s.query_idx == q.query_idx;
    });
    ASSERT_NE(drawn, queries_of_clip.end());
    EXPECT_EQ(q.slot_x, "object_00" + std::to_string(drawn->label_id));  // fewer than 10 classes
    EXPECT_EQ(q.query, drawn->query);
    std::map<int64_t, int> shown_per_class;
    for (const Segment& s : shown) ++shown_per_class[s.label_id];
    EXPECT_TRUE(std::any_of(shown.begin(), shown.end(), [&](const Segment& s) {
      return s.label_id == drawn->label_id && s.start == drawn->start && s.end == drawn->end;
    }));
    // One query per class and clip; a class shown several times only when every class shown
    // once (with a window longer than a frame) is asked about already.
    std::set<int64_t> asked;
    for (const SynthNlqQuery& s : queries_of_clip) EXPECT_TRUE(asked.insert(s.label_id).second);
    if (shown_per_class[drawn->label_id] > 1) {
      for (const Segment& s : shown) {
        if (shown_per_class[s.label_id] == 1 && s.end - s.start > kNlqEmptyWindow) {
          EXPECT_TRUE(asked.count(s.label_id)) << "class " << s.label_id << " shown once, not asked";
        }
      }
    }
    if (q.subset == "test") {
      EXPECT_FALSE(q.has_window);
    } else {
      ASSERT_TRUE(q.has_window);
      EXPECT_EQ(q.start, drawn->start);
      EXPECT_EQ(q.end, drawn->end);
      // A train/val window is one of the clip's annotations.
      EXPECT_TRUE(std::any_of(clip->annotations.begin(), clip->annotations.end(),
                              [&](const Segment& s) { return s.start == q.start && s.end == q.end; }));
    }
  }
  // The clips' features are exactly those of the MQ synth.
  for (const Clip& c : layout.clips) {
    EXPECT_EQ(store.read_clip(c.clip_id)[0].values, expected_clip(o, c)[0].values) << c.clip_id;
  }
}

TEST(SynthNlq, DeterministicForASeed) {
  SynthOptions a = nlq_options(fresh_dir("nlq_a"));
  SynthOptions b = nlq_options(fresh_dir("nlq_b"));
  SynthOptions c = nlq_options(fresh_dir("nlq_c"));
  c.seed = 4;
  synthesize(a);
  synthesize(b);
  synthesize(c);
  for (const char* name : {"/nlq_train.json", "/nlq_val.json", "/nlq_test_unannotated.json"}) {
    EXPECT_EQ(read_file(a.out_dir + name), read_file(b.out_dir + name)) << name;
    EXPECT_NE(read_file(a.out_dir + name), read_file(c.out_dir + name)) << name;
  }
  const StoreReader sa(a.out_dir + "/features.h5"), sb(b.out_dir + "/features.h5");
  ASSERT_EQ(sa.text_keys(), sb.text_keys());
  for (const std::string& key : sa.text_keys()) {
    EXPECT_EQ(sa.read_text(key).values, sb.read_text(key).values) << key;
  }
  // The text generator alone: same key, same matrix; another key, another.
  const SynthTextGenerator g(16, 5, 3);
  EXPECT_EQ(g.render("k", 2).values, SynthTextGenerator(16, 5, 3).render("k", 2).values);
  EXPECT_NE(g.render("k", 2).values, g.render("k2", 2).values);
}

// Learnable: the class read from a query's text alone (nearest text prototype) points, through
// the video prototype of that class, at the answer window rather than at the clip's other
// instances or at empty stretches of the same length.
TEST(SynthNlq, TextFindsItsAnswerWindowThroughTheClass) {
  constexpr int64_t kClasses = 8;
  constexpr uint64_t kSeed = 11;
  const std::vector<StreamInfo> streams = {{"v", 32}};
  const SynthGenerator video(streams, kClasses, kSeed);
  const SynthTextGenerator text(64, kClasses, kSeed);
  const ClipAnnotations layout = draw_synth_clips(30, kClasses, kSeed, kFps);
  int64_t queries = 0, decoded = 0, beats_instances = 0, instance_pairs = 0, beats_empty = 0,
          empty_pairs = 0;
  double inside_sum = 0, other_sum = 0;
  for (const Clip& c : layout.clips) {
    const std::vector<Segment> shown = synth_shown_segments(c, kClasses, kSeed);
    const int64_t rows = synth_rows(c.duration, kFps);
    const FeatureMatrix f = video.render(c.clip_id, rows, kFps, shown)[0];
    std::vector<double> mean(32, 0.0);
    for (int64_t r = 0; r < rows; ++r) {
      for (int64_t d = 0; d < 32; ++d) mean[static_cast<size_t>(d)] += f.at(r, d) / static_cast<double>(rows);
    }
    // Mean projection of the rows whose centre lies in [start, end] on class c's prototype
    // less the mean prototype: the part every class shares ("some action") taken out.
    const auto score = [&](double start, double end, int64_t cls) {
      std::vector<float> u = video.prototype(0, cls);
      for (int64_t k = 0; k < kClasses; ++k) {
        for (size_t d = 0; d < u.size(); ++d) u[d] -= video.prototype(0, k)[d] / static_cast<float>(kClasses);
      }
      double sum = 0;
      int n = 0;
      for (int64_t r = 0; r < rows; ++r) {
        const double t = (static_cast<double>(r) + 0.5) / kFps;
        if (t < start || t > end) continue;
        double p = 0;
        for (int64_t d = 0; d < 32; ++d) p += (f.at(r, d) - mean[static_cast<size_t>(d)]) * u[static_cast<size_t>(d)];
        sum += p;
        ++n;
      }
      return n > 0 ? sum / n : std::nan("");
    };
    for (const SynthNlqQuery& q : draw_synth_queries(c, kClasses, kSeed, 6)) {
      const FeatureMatrix tokens = text.render(nlq_query_key(c.clip_id, q.annotation_uid, q.query_idx), q.label_id);
      // The class from the text alone: the prototype some token is closest to.
      int64_t best = 0;
      double best_dot = -1e9;
      for (int64_t k = 0; k < kClasses; ++k) {
        for (int64_t t = 0; t < tokens.rows; ++t) {
          const double v = dot(&tokens.values[static_cast<size_t>(t * tokens.cols)], text.prototype(k));
          if (v > best_dot) {
            best_dot = v;
            best = k;
          }
        }
      }
      ++queries;
      decoded += best == q.label_id;
      const double inside = score(q.start, q.end, best);
      if (std::isnan(inside)) continue;  // shorter than a row
      inside_sum += inside;
      for (const Segment& s : shown) {
        // Other classes' instances away from the answer (an overlapping one shows it too).
        if (s.label_id == q.label_id || (s.start < q.end + 2 && s.end > q.start - 2)) continue;
        const double other = score(s.start, s.end, best);
        if (std::isnan(other)) continue;
        ++instance_pairs;
        beats_instances += inside > other;
        other_sum += other;
      }
      // The same length where no instance is.
      const double length = q.end - q.start;
      for (double start = 0; start + length <= c.duration; start += std::max(length, 5.0)) {
        const bool clear = std::none_of(shown.begin(), shown.end(), [&](const Segment& s) {
          return start < s.end + 3 && start + length > s.start - 3;
        });
        if (!clear) continue;
        const double empty = score(start, start + length, best);
        if (std::isnan(empty)) continue;
        ++empty_pairs;
        beats_empty += inside > empty;
      }
    }
  }
  ASSERT_GE(queries, 60);
  EXPECT_GT(static_cast<double>(decoded) / static_cast<double>(queries), 0.98);
  ASSERT_GT(instance_pairs, 100);
  ASSERT_GT(empty_pairs, 100);
  // Inside about 6 x (1 - 4.5 / 8) = 2.6 at most (strength times the class's own part; ramps
  // and the clip mean take some), other instances and empty stretches about 0. Over seeds 0-9:
  // 94-98% and 97-100% of the pairs, a difference of 1.8 to 2.8.
  EXPECT_GT(static_cast<double>(beats_instances) / static_cast<double>(instance_pairs), 0.9);
  EXPECT_GT(static_cast<double>(beats_empty) / static_cast<double>(empty_pairs), 0.95);
  EXPECT_GT(inside_sum / static_cast<double>(queries) - other_sum / static_cast<double>(instance_pairs), 1.5);
}

TEST(SynthNlq, NpyModeWritesTextFiles) {
  SynthOptions o = nlq_options(fresh_dir("nlq_npy"));
  o.write = "npy";
  o.clips = 3;
  const SynthReport report = synthesize(o);
  NlqConvertOptions convert;
  convert.files = present({o.out_dir + "/nlq_train.json", o.out_dir + "/nlq_val.json",
                           o.out_dir + "/nlq_test_unannotated.json"});
  ASSERT_FALSE(convert.files.empty());
  const NlqConvertReport converted = convert_nlq(convert);
  ASSERT_EQ(static_cast<int64_t>(converted.queries.queries.size()), report.queries);
  for (const NlqQuery& q : converted.queries.queries) {
    const FeatureMatrix m = read_npy(o.out_dir + "/text/" + q.key() + ".npy");
    EXPECT_EQ(m.cols, o.text_dim);
    EXPECT_TRUE(path_exists(o.out_dir + "/a/" + q.clip_uid + ".npy"));
  }
  EXPECT_EQ(static_cast<int64_t>(std::distance(fs::directory_iterator(o.out_dir + "/text"),
                                               fs::directory_iterator())),
            report.queries);
}

// The README's NLQ data path: per-clip video files and per-query text files packed with the
// query list as --annotations; the store then serves both. Per-video files are refused there.
TEST(SynthNlq, PackTakesTheQueryListAndTheTextFolder) {
  SynthOptions o = nlq_options(fresh_dir("nlq_pack"));
  o.write = "npy";
  o.clips = 4;
  synthesize(o);
  NlqConvertOptions convert;
  convert.files = present({o.out_dir + "/nlq_train.json", o.out_dir + "/nlq_val.json",
                           o.out_dir + "/nlq_test_unannotated.json"});
  const std::string list = o.out_dir + "/nlq_queries.json";
  const NlqQueries queries = convert_nlq_to_file(convert, list).queries;
  std::vector<std::string> features;
  for (const auto& s : o.streams) features.push_back(s.name + "=" + o.out_dir + "/" + s.name);
  std::vector<std::string> args = {"pack", "--annotations", list, "--text-folder",
                                   o.out_dir + "/text", "--out", o.out_dir + "/store.h5"};
  for (const auto& f : features) args.insert(args.end(), {"--feature", f});
  const testing::RunResult r = testing::run_asl(args);
  ASSERT_EQ(r.code, 0) << r.err;
  const StoreReader store(o.out_dir + "/store.h5");
  for (const NlqQuery& q : queries.queries) {
    EXPECT_TRUE(store.has_clip(q.clip_uid)) << q.clip_uid;
    EXPECT_TRUE(store.has_text(q.key())) << q.key();
  }
  EXPECT_EQ(static_cast<size_t>(store.info().num_clips), nlq_feature_clips(queries).clips.size());

  args = {"pack", "--annotations", list, "--out", o.out_dir + "/per_video.h5", "--feature",
          features[0] + ":per-video"};
  const testing::RunResult bad = testing::run_asl(args);
  EXPECT_NE(bad.code, 0);
  EXPECT_HAS(bad.err, "per-video files cannot be cut with a query list");
  EXPECT_FALSE(path_exists(o.out_dir + "/per_video.h5"));
}

TEST(SynthNlq, BadOptionsFailAndLeaveNothing) {
  const std::string dir = fresh_dir("nlq_bad");
  SynthOptions o = nlq_options(dir);
  o.task = "vq";
  EXPECT_HAS(error_of([&] { synthesize(o); }), "--task: unknown task 'vq'");
  o = nlq_options(dir);
  o.text_dim = 0;
  EXPECT_HAS(error_of([&] { synthesize(o); }), "--text-dim: must be between 1 and 65536");
  o = nlq_options(dir);
  o.queries_per_clip = 0;
  EXPECT_HAS(error_of([&] { synthesize(o); }), "--queries-per-clip: must be at least 1");
  EXPECT_FALSE(path_exists(dir));
}

TEST(SynthCommand, NlqWritesTheOfficialFilesThatConvert) {
  const std::string dir = fresh_dir("cli_nlq");
  const testing::RunResult r = testing::run_asl(
      {"synth", "--task", "nlq", "--out", dir, "--clips", "10", "--classes", "4", "--features",
       "x:8", "--text-dim", "16", "--queries-per-clip", "3", "--seed", "2"});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_HAS(r.out, "queries (");
  EXPECT_HAS(r.out, "text tokens of 16");
  EXPECT_HAS(r.out, "nlq_train.json");
  const testing::RunResult c = testing::run_asl(
      {"convert", "--nlq", dir + "/nlq_train.json", dir + "/nlq_val.json",
       dir + "/nlq_test_unannotated.json", "--out", dir + "/queries.json"});
  ASSERT_EQ(c.code, 0) << c.err;
  EXPECT_HAS(c.out, "dropped 0 queries without text, 0 train/val queries");
  const NlqQueries q = read_nlq_queries(dir + "/queries.json");
  const StoreReader store(dir + "/features.h5");
  for (const NlqQuery& x : q.queries) EXPECT_TRUE(store.has_text(x.key())) << x.key();
}

}  // namespace
}  // namespace asl::data
