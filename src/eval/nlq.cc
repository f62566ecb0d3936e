#include "eval/nlq.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>
#include <map>
#include <nlohmann/json.hpp>
#include <tuple>
#include <utility>

#include "core/error.h"
#include "core/fs.h"

// The official NLQ evaluator is EGO4D/episodic-memory NLQ/VSLNet/utils/evaluate_ego4d_nlq.py
// (compute_IoU, evaluate_nlq_performance, main); docs/evaluation.md, "Natural Language Queries".
namespace asl::eval {
namespace {

using Json = nlohmann::json;

// "malformed JSON at line 3, column 6: ..." from nlohmann's parse errors, with the file.
Json parse_file(const std::string& path, const std::string& what) {
  const std::string text = read_file(path);
  try {
    return Json::parse(text);
  } catch (const Json::parse_error& e) {
    std::string detail = e.what();
    const auto at = detail.find("at line ");
    detail = at == std::string::npos ? detail : detail.substr(at);
    throw Error(path, "malformed JSON " + detail, "is this " + what + "?");
  } catch (const Json::out_of_range& e) {
    std::string detail = e.what();
    const auto at = detail.find("] ");
    throw Error(path, "unreadable JSON: " + (at == std::string::npos ? detail : detail.substr(at + 2)),
                "write numbers that fit a double");
  }
}

// A place in a file: "gt.json: videos[0].clips[2]" plus, once known, the entry's ids
// " (clip_uid C, annotation_uid A, query_idx 2)".
struct Where {
  std::string file;
  std::string path;
  std::string ids;

  Where key(const std::string& name) const { return {file, path.empty() ? name : path + "." + name, ids}; }
  Where index(size_t i) const { return {file, path + "[" + std::to_string(i) + "]", ids}; }
  Where with_ids(std::string more) const {
    return {file, path, ids.empty() ? std::move(more) : ids + ", " + more};
  }
  std::string text() const {
    std::string t = file;
    if (!path.empty()) t += ": " + path;
    if (!ids.empty()) t += " (" + ids + ")";
    return t;
  }
  [[noreturn]] void fail(const std::string& problem, const std::string& fix = "") const {
    throw Error(text(), problem, fix);
  }
};

const Json& member(const Json& object, const char* name, const Where& at, const std::string& fix = "") {
  const auto it = object.find(name);
  if (it == object.end()) at.fail(std::string("missing key '") + name + "'", fix);
  return *it;
}

std::string kind_of(const Json& v) { return v.type_name(); }

const Json& as_object(const Json& v, const Where& at) {
  if (!v.is_object()) at.fail("is " + kind_of(v) + ", expected an object");
  return v;
}
const Json& as_array(const Json& v, const Where& at) {
  if (!v.is_array()) at.fail("is " + kind_of(v) + ", expected a list");
  return v;
}
const std::string& as_string(const Json& v, const Where& at) {
  if (!v.is_string()) at.fail("is " + kind_of(v) + ", expected a string");
  return v.get_ref<const std::string&>();
}
double as_number(const Json& v, const Where& at) {
  if (!v.is_number()) at.fail("is " + kind_of(v) + ", expected a number");
  return v.get<double>();
}
// query_idx indexes the annotation's language_queries: an integer 0 or more. (Python would take
// a negative one from the end of the list; it is refused here.)
int64_t as_query_idx(const Json& v, const Where& at) {
  if (v.is_number_unsigned()) {
    const auto u = v.get<uint64_t>();
    if (u > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) at.fail("is too large");
    return static_cast<int64_t>(u);
  }
  if (v.is_number_integer()) {
    const auto i = v.get<int64_t>();
    if (i < 0) at.fail("is " + std::to_string(i) + ", expected an index 0 or more");
    return i;
  }
  at.fail("is " + (v.is_number() ? "number " + v.dump() : kind_of(v)) + ", expected an integer");
}

// "12.5": a number as messages write it.
std::string number_text(double v) { return Json(v).dump(); }

// numpy's maximum / minimum: NaN in either gives NaN.
double np_maximum(double a, double b) { return (a >= b || std::isnan(a)) ? a : b; }
double np_minimum(double a, double b) { return (a <= b || std::isnan(a)) ? a : b; }

// numpy's pairwise summation of float64 (pairwise_sum_DOUBLE, blocks of 128, 8 accumulators),
// which np.mean uses: the same sum, to the last bit.
double pairwise_sum(const double* a, size_t n) {
  if (n < 8) {
    double res = 0.;
    for (size_t i = 0; i < n; ++i) res += a[i];
    return res;
  }
  if (n <= 128) {
    double r[8];
    for (size_t j = 0; j < 8; ++j) r[j] = a[j];
    size_t i = 8;
    for (; i < n - (n % 8); i += 8) {
      for (size_t j = 0; j < 8; ++j) r[j] += a[i + j];
    }
    double res = ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]));
    for (; i < n; ++i) res += a[i];
    return res;
  }
  size_t n2 = n / 2;
  n2 -= n2 % 8;
  return pairwise_sum(a, n2) + pairwise_sum(a + n2, n - n2);
}

// np.mean of a float64 array: 0 + the pairwise sum, divided by the count.
double np_mean(const std::vector<double>& v) {
  return (0.0 + pairwise_sum(v.data(), v.size())) / static_cast<double>(v.size());
}

std::string ids_text(const std::string& clip_uid, const std::string& annotation_uid,
                     int64_t query_idx) {
  return "clip_uid " + clip_uid + ", annotation_uid " + annotation_uid + ", query_idx " +
         std::to_string(query_idx);
}

// "0.3": a threshold as the metrics JSON's keys write it ("R1@0.3").
std::string threshold_key(double t) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%g", t);
  return buf;
}

}  // namespace

NlqGroundTruth read_nlq_ground_truth(const std::string& path) {
  const std::string what = "the official NLQ annotation file (nlq_val.json)";
  const Json root = parse_file(path, what);
  const Where top{path, "", ""};
  if (!root.is_object()) top.fail("is " + kind_of(root) + ", expected an object", "is this " + what + "?");
  NlqGroundTruth gt;
  gt.source = path;
  // (clip_uid, annotation_uid) -> where it was first seen.
  std::map<std::pair<std::string, std::string>, std::string> seen;
  const Where videos_at = top.key("videos");
  const Json& videos = as_array(member(root, "videos", top, "is this " + what + "?"), videos_at);
  for (size_t v = 0; v < videos.size(); ++v) {
    const Where video_at = videos_at.index(v);
    const Json& video = as_object(videos[v], video_at);
    const Where clips_at = video_at.key("clips");
    const Json& clips = as_array(member(video, "clips", video_at), clips_at);
    for (size_t c = 0; c < clips.size(); ++c) {
      Where clip_at = clips_at.index(c);
      const Json& clip = as_object(clips[c], clip_at);
      const std::string& clip_uid = as_string(member(clip, "clip_uid", clip_at), clip_at.key("clip_uid"));
      clip_at = clip_at.with_ids("clip_uid " + clip_uid);
      const Where anns_at = clip_at.key("annotations");
      const Json& anns = as_array(member(clip, "annotations", clip_at), anns_at);
      for (size_t a = 0; a < anns.size(); ++a) {
        Where ann_at = anns_at.index(a);
        const Json& ann = as_object(anns[a], ann_at);
        const std::string& ann_uid =
            as_string(member(ann, "annotation_uid", ann_at), ann_at.key("annotation_uid"));
        ann_at = ann_at.with_ids("annotation_uid " + ann_uid);
        const auto [first, fresh] = seen.emplace(std::make_pair(clip_uid, ann_uid), ann_at.path);
        if (!fresh) {
          ann_at.fail("this clip_uid and annotation_uid are also at " + first->second,
                      "the official evaluator counts the queries of both but looks predictions up "
                      "in the last one only; keep one");
        }
        const Where queries_at = ann_at.key("language_queries");
        const Json& queries = as_array(member(ann, "language_queries", ann_at), queries_at);
        for (size_t q = 0; q < queries.size(); ++q) {
          const Where query_at = queries_at.index(q).with_ids("query_idx " + std::to_string(q));
          const Json& query = as_object(queries[q], query_at);
          const std::string fix = "score against a file with answer windows (nlq_train.json, "
                                  "nlq_val.json); the test file has none";
          NlqGroundTruthQuery g;
          g.clip_uid = clip_uid;
          g.annotation_uid = ann_uid;
          g.query_idx = static_cast<int64_t>(q);
          g.start = as_number(member(query, "clip_start_sec", query_at, fix), query_at.key("clip_start_sec"));
          g.end = as_number(member(query, "clip_end_sec", query_at, fix), query_at.key("clip_end_sec"));
          gt.queries.push_back(std::move(g));
        }
      }
    }
  }
  return gt;
}

NlqSubmission read_nlq_submission(const std::string& path) {
  const std::string what = "an NLQ submission ({\"version\": \"1.0\", \"challenge\": "
                           "\"ego4d_nlq_challenge\", \"results\": [...]})";
  const Json root = parse_file(path, what);
  const Where top{path, "", ""};
  if (!root.is_object()) top.fail("is " + kind_of(root) + ", expected an object", "is this " + what + "?");
  NlqSubmission s;
  s.source = path;
  // The official main(): predictions.get("version") == "1.0", then the challenge.
  const auto check = [&](const char* key, const std::string& want, const std::string& problem) {
    const auto it = root.find(key);
    if (it == root.end()) top.fail(std::string("missing key '") + key + "'", "set it to \"" + want + "\"");
    if (!it->is_string() || it->get_ref<const std::string&>() != want) {
      top.key(key).fail("is " + it->dump() + ", expected \"" + want + "\" (" + problem + ")",
                        "set it to \"" + want + "\"");
    }
  };
  check("version", s.version, "Ego4D version does not match");
  check("challenge", s.challenge, "Ego4D challenge does not match");
  const Where results_at = top.key("results");
  const Json& results = as_array(member(root, "results", top, "is this " + what + "?"), results_at);
  s.results.reserve(results.size());
  for (size_t i = 0; i < results.size(); ++i) {
    Where at = results_at.index(i);
    const Json& entry = as_object(results[i], at);
    NlqPrediction p;
    p.clip_uid = as_string(member(entry, "clip_uid", at), at.key("clip_uid"));
    p.annotation_uid = as_string(member(entry, "annotation_uid", at), at.key("annotation_uid"));
    p.query_idx = as_query_idx(member(entry, "query_idx", at), at.key("query_idx"));
    at = at.with_ids(ids_text(p.clip_uid, p.annotation_uid, p.query_idx));
    const Where times_at = at.key("predicted_times");
    const Json& times = as_array(member(entry, "predicted_times", at), times_at);
    if (times.empty()) {
      times_at.fail("is empty", "give at least one [start, end] window (the official evaluator "
                                "fails on an empty list)");
    }
    if (!times[0].is_array()) {
      times_at.fail("is a list of " + kind_of(times[0]) + ", expected a list of [start, end] windows",
                    "write [[start, end], ...], a single window too");
    }
    p.predicted_times.reserve(times.size());
    for (size_t w = 0; w < times.size(); ++w) {
      const Where window_at = times_at.index(w);
      const Json& window = as_array(times[w], window_at);
      if (window.size() != 2) {
        window_at.fail("has " + std::to_string(window.size()) + " values, expected [start, end]");
      }
      p.predicted_times.push_back(
          {as_number(window[0], window_at.index(0)), as_number(window[1], window_at.index(1))});
    }
    s.results.push_back(std::move(p));
  }
  return s;
}

std::string nlq_submission_json(const NlqSubmission& submission) {
  nlohmann::ordered_json j;
  j["version"] = submission.version;
  j["challenge"] = submission.challenge;
  j["results"] = nlohmann::ordered_json::array();
  for (const NlqPrediction& p : submission.results) {
    nlohmann::ordered_json e;
    e["clip_uid"] = p.clip_uid;
    e["annotation_uid"] = p.annotation_uid;
    e["query_idx"] = p.query_idx;
    e["predicted_times"] = nlohmann::ordered_json::array();
    for (const auto& w : p.predicted_times) e["predicted_times"].push_back({w[0], w[1]});
    j["results"].push_back(std::move(e));
  }
  return j.dump() + "\n";
}

double nlq_iou(double pred_start, double pred_end, double gt_start, double gt_end) {
  // compute_IoU, element by element: inter / union with both clipped at 0.
  const double inter = np_maximum(0.0, np_minimum(pred_end, gt_end) - np_maximum(pred_start, gt_start));
  const double uni = np_maximum(0.0, np_maximum(pred_end, gt_end) - np_minimum(pred_start, gt_start));
  // union 0 implies inter 0: numpy's 0/0 = NaN, here 0 (see nlq.h).
  if (uni == 0) return 0.0;
  return 1.0 * inter / uni;
}

NlqMetrics score_nlq(const NlqGroundTruth& ground_truth, const NlqSubmission& submission,
                     std::vector<double> thresholds, std::vector<int64_t> top_k) {
  const std::string gt_name = ground_truth.source.empty() ? "ground truth" : ground_truth.source;
  const std::string sub_name = submission.source.empty() ? "submission" : submission.source;
  if (thresholds.empty()) throw Error("NLQ scoring", "no IoU threshold given");
  if (top_k.empty()) throw Error("NLQ scoring", "no top-K given");
  for (double t : thresholds) {
    if (!std::isfinite(t) || t < 0) {
      throw Error("NLQ scoring", "IoU threshold " + number_text(t) + " is not a number 0 or more");
    }
  }
  for (int64_t k : top_k) {
    if (k < 1) throw Error("NLQ scoring", "top-K " + std::to_string(k) + " is below 1");
  }

  using Key = std::tuple<std::string, std::string, int64_t>;
  std::map<Key, size_t> index;
  std::map<std::pair<std::string, std::string>, size_t> per_annotation;  // queries per annotation
  for (size_t i = 0; i < ground_truth.queries.size(); ++i) {
    const auto& q = ground_truth.queries[i];
    if (!index.emplace(Key{q.clip_uid, q.annotation_uid, q.query_idx}, i).second) {
      throw Error(gt_name, "query " + ids_text(q.clip_uid, q.annotation_uid, q.query_idx) +
                               " is given twice", "keep one");
    }
    ++per_annotation[{q.clip_uid, q.annotation_uid}];
  }
  if (submission.results.empty()) {
    throw Error(sub_name, "has no predictions to score",
                "the official evaluator gives NaN for every metric here");
  }

  NlqMetrics m;
  m.thresholds = std::move(thresholds);
  m.top_k = std::move(top_k);
  m.num_gt_queries = static_cast<int64_t>(ground_truth.queries.size());
  const size_t T = m.thresholds.size(), K = m.top_k.size();
  int64_t max_k = 1;
  for (int64_t k : m.top_k) max_k = std::max(max_k, k);
  std::vector<std::vector<int64_t>> hits(K, std::vector<int64_t>(T, 0));
  std::vector<int64_t> r1_hits(T, 0);
  std::vector<double> first_iou;  // average_IoU: one per prediction
  first_iou.reserve(submission.results.size());
  std::vector<double> iou;
  for (size_t i = 0; i < submission.results.size(); ++i) {
    const NlqPrediction& p = submission.results[i];
    const std::string where = sub_name + ": results[" + std::to_string(i) + "] (" +
                              ids_text(p.clip_uid, p.annotation_uid, p.query_idx) + ")";
    const auto it = index.find(Key{p.clip_uid, p.annotation_uid, p.query_idx});
    if (it == index.end()) {
      const auto ann = per_annotation.find({p.clip_uid, p.annotation_uid});
      if (ann == per_annotation.end()) {
        throw Error(where, "clip_uid and annotation_uid are not in " + gt_name,
                    "score the submission against the ground truth of its split");
      }
      throw Error(where, "no such query_idx in " + gt_name + " (that annotation has " +
                             std::to_string(ann->second) + " language queries)",
                  "query_idx counts the annotation's language_queries from 0");
    }
    if (p.predicted_times.empty()) {
      throw Error(where, "predicted_times is empty", "give at least one [start, end] window");
    }
    const NlqGroundTruthQuery& g = ground_truth.queries[it->second];
    const size_t n = std::min(p.predicted_times.size(), static_cast<size_t>(max_k));
    iou.clear();
    for (size_t w = 0; w < n; ++w) {
      iou.push_back(nlq_iou(p.predicted_times[w][0], p.predicted_times[w][1], g.start, g.end));
    }
    // np.mean(np.sort(overlap[0])[-3:]): overlap[0] is the first window's IoU with the one
    // ground-truth window, so this is that IoU.
    first_iou.push_back(iou[0]);
    for (size_t t = 0; t < T; ++t) {
      // (overlap > threshold)[:K].any(), strictly above.
      for (size_t k = 0; k < K; ++k) {
        const size_t upto = std::min(n, static_cast<size_t>(m.top_k[k]));
        for (size_t w = 0; w < upto; ++w) {
          if (iou[w] > m.thresholds[t]) {
            ++hits[k][t];
            break;
          }
        }
      }
      if (iou[0] > m.thresholds[t]) ++r1_hits[t];
    }
  }
  m.evaluated = static_cast<int64_t>(submission.results.size());
  const double count = static_cast<double>(m.evaluated);
  // np.array(results).mean(axis=-1): the hit count (an exact sum of 0s and 1s) over the count.
  m.recall.assign(K, std::vector<double>(T, 0.0));
  for (size_t k = 0; k < K; ++k) {
    for (size_t t = 0; t < T; ++t) m.recall[k][t] = static_cast<double>(hits[k][t]) / count;
  }
  m.miou = np_mean(first_iou);
  std::vector<double> r1(T);
  for (size_t t = 0; t < T; ++t) r1[t] = static_cast<double>(r1_hits[t]) / count;
  m.mean_r1 = np_mean(r1);
  return m;
}

std::string nlq_metrics_json(const NlqMetrics& m) {
  nlohmann::ordered_json j;
  for (size_t k = 0; k < m.top_k.size(); ++k) {
    for (size_t t = 0; t < m.thresholds.size(); ++t) {
      j["R" + std::to_string(m.top_k[k]) + "@" + threshold_key(m.thresholds[t])] = m.recall.at(k).at(t);
    }
  }
  j["mIoU"] = m.miou;
  j["mean_R1"] = m.mean_r1;
  j["evaluated"] = m.evaluated;
  j["num_gt_queries"] = m.num_gt_queries;
  return j.dump(2) + "\n";
}

std::string format_nlq_table(const NlqMetrics& m) {
  std::string out;
  char buf[160];
  std::snprintf(buf, sizeof buf, "Natural Language Queries: Evaluated: %lld / %lld queries\n",
                static_cast<long long>(m.evaluated), static_cast<long long>(m.num_gt_queries));
  out += buf;
  out += "  Rank@K (%)";
  for (int64_t k : m.top_k) {
    std::snprintf(buf, sizeof buf, "%8s", ("R@" + std::to_string(k)).c_str());
    out += buf;
  }
  out += "\n";
  for (size_t t = 0; t < m.thresholds.size(); ++t) {
    std::snprintf(buf, sizeof buf, "  IoU %-7s", threshold_key(m.thresholds[t]).c_str());
    out += buf;
    for (size_t k = 0; k < m.top_k.size(); ++k) {
      std::snprintf(buf, sizeof buf, "%8.2f", 100 * m.recall.at(k).at(t));
      out += buf;
    }
    out += "\n";
  }
  std::snprintf(buf, sizeof buf, "  mIoU (%%) %.2f   mean R@1 (%%) %.2f\n", 100 * m.miou,
                100 * m.mean_r1);
  out += buf;
  return out;
}

}  // namespace asl::eval
