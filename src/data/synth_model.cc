// The generator of `asl synth`: per stream, a background (fixed stream mean, timeline
// offset, slow drift, white noise) plus, inside every event, the event's class direction
// times a soft envelope. docs/synth.md gives the model and the reasons for its values.
#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "core/error.h"
#include "data/synth_random.h"
#include "data/synth.h"

namespace asl::data {
namespace {

using synth_random::mix;
using synth_random::Rng;

constexpr double kTwoPi = 6.283185307179586;
// Sub-samples per row when averaging an envelope over the row's time span, so that
// instances shorter than a row still show up in proportion to their overlap.
constexpr int kSubsamples = 4;

double smoothstep(double x) {
  if (x <= 0) return 0;
  if (x >= 1) return 1;
  return x * x * (3 - 2 * x);
}

void normalize(std::vector<float>& v) {
  double norm = 0;
  for (const float x : v) norm += static_cast<double>(x) * x;
  norm = std::sqrt(norm);
  if (norm == 0) return;
  for (float& x : v) x = static_cast<float>(x / norm);
}

std::vector<float> normal_vector(Rng& rng, int64_t dim, double scale) {
  std::vector<float> v(static_cast<size_t>(dim));
  for (float& x : v) x = static_cast<float>(scale * rng.normal());
  return v;
}

uint64_t stream_key(uint64_t seed, const std::string& key, const StreamInfo& stream,
                    const char* what) {
  return mix(mix(mix(mix(seed, "timeline"), key), stream.name), what);
}

}  // namespace

SynthGenerator::SynthGenerator(std::vector<StreamInfo> streams, int64_t num_classes,
                               uint64_t seed, SynthModel model)
    : streams_(std::move(streams)), num_classes_(num_classes), seed_(seed), model_(model) {
  if (streams_.empty()) throw Error("synth", "no feature streams", "give --features NAME:DIM");
  if (num_classes_ < 1) throw Error("synth", "the number of classes must be at least 1");
  const double shared = std::sqrt(model_.shared);
  const double own = std::sqrt(1.0 - model_.shared);
  for (const StreamInfo& stream : streams_) {
    // The shared part makes "some action" easier to see than "which action".
    Rng shared_rng(mix(mix(mix(seed_, "prototype"), stream.name), "shared"));
    const std::vector<float> common = normal_vector(shared_rng, stream.dim, 1.0);
    std::vector<std::vector<float>> classes;
    for (int64_t c = 0; c < num_classes_; ++c) {
      Rng rng(mix(mix(mix(seed_, "prototype"), stream.name), static_cast<uint64_t>(c)));
      std::vector<float> p = normal_vector(rng, stream.dim, 1.0);
      for (size_t d = 0; d < p.size(); ++d) {
        p[d] = static_cast<float>(shared * common[d] + own * p[d]);
      }
      normalize(p);
      classes.push_back(std::move(p));
    }
    prototypes_.push_back(std::move(classes));
    Rng bias_rng(mix(mix(seed_, "stream-bias"), stream.name));
    stream_bias_.push_back(normal_vector(bias_rng, stream.dim, model_.stream_bias));
  }
}

const std::vector<float>& SynthGenerator::prototype(int64_t stream, int64_t label_id) const {
  return prototypes_.at(static_cast<size_t>(stream)).at(static_cast<size_t>(label_id));
}

double SynthGenerator::snr(int64_t stream) const {
  const bool weak = streams_.size() > 1 && stream == static_cast<int64_t>(streams_.size()) - 1;
  return weak ? model_.weak_snr : model_.strong_snr;
}

double SynthGenerator::envelope(double start, double end, double ramp, double t) {
  const double width = std::min(ramp, 0.5 * (end - start));
  if (!(width > 0)) return 0;
  return smoothstep((t - start) / width + 0.5) * smoothstep((end - t) / width + 0.5);
}

std::vector<SynthEvent> SynthGenerator::events(const std::string& key, double duration,
                                               const std::vector<Segment>& instances) const {
  Rng rng(mix(mix(mix(seed_, "events"), key), "gains"));
  std::vector<SynthEvent> out;
  for (const Segment& s : instances) {
    if (s.label_id < 0 || s.label_id >= num_classes_) {
      throw Error(key, "label id " + std::to_string(s.label_id) + " is outside 0.." +
                           std::to_string(num_classes_ - 1));
    }
    out.push_back({s.start, s.end, s.label_id, rng.uniform(model_.gain_min, model_.gain_max),
                   false});
  }
  // Distractors: weaker bursts of class patterns away from every instance, so that a model
  // must judge strength and context, not only direction.
  Rng drng(mix(mix(mix(seed_, "events"), key), "distractors"));
  const double expected = model_.distractor_rate * std::max(0.0, duration);
  // Poisson by counting exponential gaps (expected is a handful).
  int64_t count = 0;
  for (double t = -std::log(1.0 - drng.uniform()); t < expected;
       t += -std::log(1.0 - drng.uniform())) {
    ++count;
  }
  const double clearance = model_.distractor_clearance + model_.ramp;
  for (int64_t i = 0; i < count; ++i) {
    const double length = std::min(
        duration, model_.distractor_median_len * std::exp(model_.distractor_log_std * drng.normal()));
    const int64_t label = drng.below(num_classes_);
    const double gain = drng.uniform(model_.gain_min, model_.gain_max);
    for (int attempt = 0; attempt < 8; ++attempt) {
      const double start = drng.uniform(0, std::max(0.0, duration - length));
      const double end = start + length;
      const bool clear = std::none_of(instances.begin(), instances.end(), [&](const Segment& s) {
        return start < s.end + clearance && end > s.start - clearance;
      });
      if (clear) {
        out.push_back({start, end, label, model_.distractor_strength * gain, true});
        break;
      }
    }
  }
  return out;
}

std::vector<FeatureMatrix> SynthGenerator::render_events(const std::string& key, int64_t rows,
                                                         double fps,
                                                         const std::vector<SynthEvent>& events) const {
  if (rows < 1 || !(fps > 0)) {
    throw Error(key, "a timeline needs at least one row and a positive feature rate");
  }
  const size_t n_rows = static_cast<size_t>(rows);

  // Envelope per class and row: the strongest event of the class there, averaged over the
  // row's time span. The maximum (not the sum) within a class keeps duplicated annotations
  // (several annotators) from doubling the signal; events of different classes add up.
  std::vector<int64_t> classes;
  for (const SynthEvent& e : events) classes.push_back(e.label_id);
  std::sort(classes.begin(), classes.end());
  classes.erase(std::unique(classes.begin(), classes.end()), classes.end());
  std::vector<std::vector<float>> class_env(classes.size(), std::vector<float>(n_rows));
  for (const SynthEvent& e : events) {
    const auto ci = std::lower_bound(classes.begin(), classes.end(), e.label_id) - classes.begin();
    std::vector<float>& env = class_env[static_cast<size_t>(ci)];
    // The envelope is 0 from half a ramp past the ends.
    const auto first = std::max<int64_t>(0, std::llround(std::floor((e.start - model_.ramp) * fps)));
    const auto last = std::min<int64_t>(rows - 1, std::llround(std::ceil((e.end + model_.ramp) * fps)));
    for (int64_t r = first; r <= last; ++r) {
      double sum = 0;
      for (int j = 0; j < kSubsamples; ++j) {
        sum += envelope(e.start, e.end, model_.ramp, (r + (j + 0.5) / kSubsamples) / fps);
      }
      float& v = env[static_cast<size_t>(r)];
      v = std::max(v, static_cast<float>(e.strength * sum / kSubsamples));
    }
  }

  std::vector<FeatureMatrix> out;
  for (size_t s = 0; s < streams_.size(); ++s) {
    const StreamInfo& stream = streams_[s];
    const size_t dim = static_cast<size_t>(stream.dim);
    FeatureMatrix m(rows, stream.dim);

    // Background: the stream's mean plus this timeline's offset...
    Rng offset_rng(stream_key(seed_, key, stream, "offset"));
    std::vector<float> base = normal_vector(offset_rng, stream.dim, model_.timeline_bias);
    for (size_t d = 0; d < dim; ++d) base[d] += stream_bias_[s][d];

    // ...plus a slow drift: a few sinusoids with random per-channel amplitudes, together of
    // std `drift` per channel (a sinusoid has variance 1/2).
    Rng drift_rng(stream_key(seed_, key, stream, "drift"));
    const size_t waves = static_cast<size_t>(std::max(0, model_.drift_components));
    std::vector<double> omega(waves), phase(waves);
    std::vector<std::vector<float>> amplitude;
    for (size_t k = 0; k < waves; ++k) {
      omega[k] = kTwoPi / drift_rng.uniform(model_.drift_min_period, model_.drift_max_period);
      phase[k] = kTwoPi * drift_rng.uniform();
      amplitude.push_back(normal_vector(drift_rng, stream.dim, model_.drift * std::sqrt(2.0 / waves)));
    }

    // This timeline's class directions: the prototypes slightly changed (appearance varies
    // between videos), times the stream's strength.
    std::vector<std::vector<float>> direction;
    for (const int64_t c : classes) {
      Rng vrng(mix(stream_key(seed_, key, stream, "variation"), static_cast<uint64_t>(c)));
      std::vector<float> p = prototype(static_cast<int64_t>(s), c);
      const double scale = model_.variation / std::sqrt(static_cast<double>(dim));
      for (float& x : p) x = static_cast<float>(x + scale * vrng.normal());
      normalize(p);
      const double strength = snr(static_cast<int64_t>(s));
      for (float& x : p) x = static_cast<float>(x * strength);
      direction.push_back(std::move(p));
    }

    Rng noise_rng(stream_key(seed_, key, stream, "noise"));
    const auto noise = static_cast<float>(model_.noise);
    std::vector<float> wave(waves);
    for (size_t r = 0; r < n_rows; ++r) {
      const double t = (static_cast<double>(r) + 0.5) / fps;  // the row's centre
      for (size_t k = 0; k < waves; ++k) wave[k] = static_cast<float>(std::sin(omega[k] * t + phase[k]));
      float* row = &m.values[r * dim];
      for (size_t d = 0; d < dim; ++d) {
        float v = base[d] + noise * noise_rng.fast_normal();
        for (size_t k = 0; k < waves; ++k) v += wave[k] * amplitude[k][d];
        row[d] = v;
      }
      for (size_t ci = 0; ci < classes.size(); ++ci) {
        const float e = class_env[ci][r];
        if (e == 0) continue;
        const float* p = direction[ci].data();
        for (size_t d = 0; d < dim; ++d) row[d] += e * p[d];
      }
    }
    out.push_back(std::move(m));
  }
  return out;
}

std::vector<FeatureMatrix> SynthGenerator::render(const std::string& key, int64_t rows,
                                                  double fps,
                                                  const std::vector<Segment>& instances) const {
  return render_events(key, rows, fps, events(key, rows / fps, instances));
}

}  // namespace asl::data
