#include "core/config.h"

#include <yaml-cpp/yaml.h>

#include <cmath>
#include <cstdio>
#include <fstream>
#include <functional>
#include <limits>
#include <set>
#include <sstream>
#include <type_traits>

#include "core/error.h"
#include "core/strings.h"

namespace asl::config {
namespace {

// ---------------------------------------------------------------------------
// Codecs: YAML node <-> one leaf type, with the type's name for error messages.
// ---------------------------------------------------------------------------
template <class T>
struct Codec;

std::string describe(const YAML::Node& n) {
  if (!n.IsDefined() || n.IsNull()) return "null";
  if (n.IsScalar()) return "'" + n.Scalar() + "'";
  YAML::Emitter e;
  e.SetMapFormat(YAML::Flow);
  e.SetSeqFormat(YAML::Flow);
  e << n;
  return e.c_str();
}

std::string format_double(double x) {
  if (std::isnan(x)) return ".nan";
  if (std::isinf(x)) return x > 0 ? ".inf" : "-.inf";
  char buf[64];
  if (x == std::floor(x) && std::fabs(x) < 1e15) {
    std::snprintf(buf, sizeof buf, "%.1f", x);
    return buf;
  }
  for (int precision = 15; precision <= 17; ++precision) {
    std::snprintf(buf, sizeof buf, "%.*g", precision, x);
    if (std::strtod(buf, nullptr) == x) break;
  }
  return buf;
}

template <>
struct Codec<int64_t> {
  static const char* name() { return "an integer"; }
  static const char* plural() { return "integers"; }
  static bool decode(const YAML::Node& n, int64_t& out) {
    return n.IsScalar() && YAML::convert<int64_t>::decode(n, out);
  }
  static void encode(YAML::Emitter& e, const int64_t& v) { e << v; }
};

template <>
struct Codec<double> {
  static const char* name() { return "a number"; }
  static const char* plural() { return "numbers"; }
  static bool decode(const YAML::Node& n, double& out) {
    return n.IsScalar() && YAML::convert<double>::decode(n, out);
  }
  static void encode(YAML::Emitter& e, const double& v) { e << format_double(v); }
};

template <>
struct Codec<bool> {
  static const char* name() { return "a boolean (true or false)"; }
  static const char* plural() { return "booleans"; }
  static bool decode(const YAML::Node& n, bool& out) {
    return n.IsScalar() && YAML::convert<bool>::decode(n, out);
  }
  static void encode(YAML::Emitter& e, const bool& v) { e << v; }
};

template <>
struct Codec<std::string> {
  static const char* name() { return "a string"; }
  static const char* plural() { return "strings"; }
  static bool decode(const YAML::Node& n, std::string& out) {
    if (!n.IsScalar()) return false;
    out = n.Scalar();
    return true;
  }
  static void encode(YAML::Emitter& e, const std::string& v) {
    // Quote strings that YAML would read back as null, a boolean or a number.
    bool ambiguous = v.empty();
    if (!ambiguous) {
      try {
        const YAML::Node probe = YAML::Load(v);
        double d;
        bool b;
        ambiguous = !probe.IsScalar() || probe.Scalar() != v ||
                    YAML::convert<double>::decode(probe, d) ||
                    YAML::convert<bool>::decode(probe, b);
      } catch (const YAML::Exception&) {
        ambiguous = true;
      }
    }
    if (ambiguous) e << YAML::DoubleQuoted;
    e << v;
  }
};

template <class T>
struct Codec<std::optional<T>> {
  static std::string name() { return std::string(Codec<T>::name()) + " or null"; }
  static bool decode(const YAML::Node& n, std::optional<T>& out) {
    if (n.IsNull()) {
      out.reset();
      return true;
    }
    T value{};
    if (!Codec<T>::decode(n, value)) return false;
    out = std::move(value);
    return true;
  }
  static void encode(YAML::Emitter& e, const std::optional<T>& v) {
    if (v) {
      Codec<T>::encode(e, *v);
    } else {
      e << YAML::Null;
    }
  }
};

template <>
struct Codec<Range> {
  static const char* name() { return "a pair of numbers [lo, hi]"; }
  static const char* plural() { return "[lo, hi] pairs"; }
  static bool decode(const YAML::Node& n, Range& out) {
    return n.IsSequence() && n.size() == 2 && Codec<double>::decode(n[0], out[0]) &&
           Codec<double>::decode(n[1], out[1]);
  }
  static void encode(YAML::Emitter& e, const Range& v) {
    e << YAML::Flow << YAML::BeginSeq;
    for (double x : v) {
      if (x == std::floor(x) && std::fabs(x) < 1e15) {
        e << static_cast<int64_t>(x);
      } else {
        e << format_double(x);
      }
    }
    e << YAML::EndSeq;
  }
};

template <class T>
struct Codec<std::vector<T>> {
  static std::string name() { return std::string("a list of ") + Codec<T>::plural(); }
  static bool decode(const YAML::Node& n, std::vector<T>& out) {
    if (!n.IsSequence()) return false;
    std::vector<T> values(n.size());
    for (std::size_t i = 0; i < n.size(); ++i) {
      if (!Codec<T>::decode(n[i], values[i])) return false;
    }
    out = std::move(values);
    return true;
  }
  static void encode(YAML::Emitter& e, const std::vector<T>& v) {
    e << YAML::Flow << YAML::BeginSeq;
    for (const T& x : v) Codec<T>::encode(e, x);
    e << YAML::EndSeq;
  }
};

template <class T>
struct Codec<ScalarOrList<T>> {
  static std::string name() {
    return std::string(Codec<T>::name()) + " or " + Codec<std::vector<T>>::name();
  }
  static bool decode(const YAML::Node& n, ScalarOrList<T>& out) {
    if (n.IsSequence()) {
      std::vector<T> values;
      if (!Codec<std::vector<T>>::decode(n, values)) return false;
      out = ScalarOrList<T>(std::move(values));
      return true;
    }
    T value{};
    if (!Codec<T>::decode(n, value)) return false;
    out = ScalarOrList<T>(std::move(value));
    return true;
  }
  static void encode(YAML::Emitter& e, const ScalarOrList<T>& v) {
    if (v.is_list || v.values.size() != 1) {
      Codec<std::vector<T>>::encode(e, v.values);
    } else {
      Codec<T>::encode(e, v.values[0]);
    }
  }
};

template <class T>
constexpr bool is_section_v = std::is_base_of_v<Section, T>;

std::string join_path(const std::string& parent, const std::string& key) {
  return parent.empty() ? key : parent + "." + key;
}

// ---------------------------------------------------------------------------
// Visitors
// ---------------------------------------------------------------------------

// Collects every key path (for suggestions); derived sub-sections are not descended.
class KeyCollector {
 public:
  KeyCollector(std::vector<std::string>& out, std::string prefix)
      : out_(out), prefix_(std::move(prefix)) {}

  template <class T>
  void operator()(const char* key, T& field) {
    const std::string path = join_path(prefix_, key);
    out_.push_back(path);
    if constexpr (is_section_v<T>) {
      KeyCollector sub(out_, path);
      field.visit(sub);
    }
  }
  template <class T>
  void derived(const char* key, T&, const char*) {
    out_.push_back(join_path(prefix_, key));
  }

 private:
  std::vector<std::string>& out_;
  std::string prefix_;
};

// Writes a section as a YAML mapping.
class Writer {
 public:
  explicit Writer(YAML::Emitter& e) : e_(e) {}

  template <class T>
  void operator()(const char* key, T& field) {
    e_ << YAML::Key << key << YAML::Value;
    write(field);
  }
  template <class T>
  void derived(const char* key, T& field, const char*) {
    (*this)(key, field);
  }
  template <class T>
  void write(T& value) {
    if constexpr (is_section_v<T>) {
      e_ << YAML::BeginMap;
      value.visit(*this);
      e_ << YAML::EndMap;
    } else {
      Codec<T>::encode(e_, value);
    }
  }

 private:
  YAML::Emitter& e_;
};

template <class T>
std::string emit(T& value) {
  YAML::Emitter e;
  Writer w(e);
  w.write(value);
  return e.c_str();
}

// Context shared by one load pass: where values come from and the deferred checks of
// derived keys (they can only be compared once everything else is loaded).
struct LoadContext {
  std::string source;  // config file name or "--set k=v"
  std::vector<std::function<void()>> derived_checks;
};

std::string nearest_key(const std::string& path) {
  static const std::vector<std::string> known = key_paths();
  const auto dot = path.rfind('.');
  const std::string parent = dot == std::string::npos ? "" : path.substr(0, dot);
  const std::string leaf = dot == std::string::npos ? path : path.substr(dot + 1);
  std::string best;
  std::size_t best_score = std::numeric_limits<std::size_t>::max();
  for (const auto& cand : known) {
    const auto cdot = cand.rfind('.');
    const std::string cparent = cdot == std::string::npos ? "" : cand.substr(0, cdot);
    const std::string cleaf = cdot == std::string::npos ? cand : cand.substr(cdot + 1);
    const std::size_t d = edit_distance(leaf, cleaf);
    if (d > std::max<std::size_t>(2, leaf.size() / 3)) continue;
    const std::size_t score = 2 * d + (cparent == parent ? 0 : 3);
    if (score < best_score) {
      best_score = score;
      best = cand;
    }
  }
  return best;
}

// Reads a mapping into a section. Keys absent from the node keep their current value,
// so the same pass applies a file over the defaults and an override over the file.
class Reader {
 public:
  Reader(const YAML::Node& node, std::string prefix, LoadContext& ctx)
      : node_(node), prefix_(std::move(prefix)), ctx_(ctx) {}

  template <class T>
  void operator()(const char* key, T& field) {
    seen_.insert(key);
    const YAML::Node child = node_[key];
    if (!child.IsDefined()) return;
    read(child, join_path(prefix_, key), field, ctx_);
  }

  template <class T>
  void derived(const char* key, T& field, const char* from) {
    seen_.insert(key);
    const YAML::Node child = node_[key];
    if (!child.IsDefined()) return;
    const std::string path = join_path(prefix_, key);
    // Accepted when equal to the derived value (so `asl inspect` output loads back).
    ctx_.derived_checks.push_back([child, path, from, &field, source = ctx_.source]() {
      T given = field;
      LoadContext sub{source, {}};
      read(child, path, given, sub);
      if (emit(given) != emit(field)) {
        throw Error(source, path + " is derived from " + std::string(from) +
                                ", and the value given differs from it",
                    "remove " + path + " or set " + std::string(from));
      }
    });
  }

  void check_unknown() const {
    for (const auto& kv : node_) {
      if (!kv.first.IsScalar()) {
        throw Error(ctx_.source, "a key under '" + (prefix_.empty() ? std::string("the top") : prefix_) +
                                     "' is not a name",
                    "keys are plain words (`asl inspect CONFIG` lists every key)");
      }
      const std::string key = kv.first.as<std::string>();
      if (seen_.count(key)) continue;
      const std::string path = join_path(prefix_, key);
      const std::string hint = nearest_key(path);
      throw Error(ctx_.source, "unknown key '" + path + "'",
                  hint.empty() ? "`asl inspect CONFIG` lists every key"
                               : "did you mean '" + hint + "'?");
    }
  }

  template <class T>
  static void read(const YAML::Node& node, const std::string& path, T& field, LoadContext& ctx) {
    if constexpr (is_section_v<T>) {
      if (!node.IsMap()) {
        throw Error(ctx.source, path + " must be a mapping of keys, got " + describe(node));
      }
      Reader sub(node, path, ctx);
      field.visit(sub);
      sub.check_unknown();
    } else {
      T value = field;
      if (!Codec<T>::decode(node, value)) {
        throw Error(ctx.source, path + " expects " + std::string(Codec<T>::name()) + ", got " +
                                    describe(node));
      }
      field = std::move(value);
    }
  }

 private:
  const YAML::Node& node_;
  std::string prefix_;
  LoadContext& ctx_;
  std::set<std::string> seen_;
};

YAML::Node parse_yaml(const std::string& text, const std::string& source) {
  try {
    return YAML::Load(text);
  } catch (const YAML::Exception& e) {
    throw Error(source, "malformed YAML at line " + std::to_string(e.mark.line + 1) +
                            ", column " + std::to_string(e.mark.column + 1) + ": " + e.msg);
  }
}

void apply_override(Config& cfg, const std::string& spec, LoadContext& file_ctx) {
  const std::string source = "--set " + spec;
  const auto eq = spec.find('=');
  if (eq == std::string::npos || eq == 0) {
    throw Error(source, "expected key.path=value", "for example --set opt.learning_rate=1e-4");
  }
  const std::string key = spec.substr(0, eq);
  const std::string value_text = spec.substr(eq + 1);
  const auto parts = split(key, '.');
  for (const auto& p : parts) {
    if (p.empty()) throw Error(source, "empty key in '" + key + "'");
  }
  YAML::Node value = parse_yaml(value_text, source);
  // Nest the value under its path and read it like a file holding only that key.
  YAML::Node root = value;
  for (auto it = parts.rbegin(); it != parts.rend(); ++it) {
    YAML::Node parent(YAML::NodeType::Map);
    parent[*it] = root;
    root = parent;
  }
  LoadContext ctx{source, {}};
  Reader::read(root, "", cfg, ctx);
  for (auto& check : ctx.derived_checks) file_ctx.derived_checks.push_back(std::move(check));
}

// ---------------------------------------------------------------------------
// Derived fields and validation
// ---------------------------------------------------------------------------

struct XLDefaults {
  int64_t n_embd, n_head, d_head, d_inner;
};
// The reference's configs/xlnet_config_<n_embd>.json files.
constexpr XLDefaults kXLTable[] = {
    {256, 4, 64, 1024}, {512, 8, 64, 1024}, {1024, 16, 64, 2048}, {1536, 16, 96, 2048}};

void derive(Config& cfg, const std::string& source) {
  ModelConfig& m = cfg.model;
  m.input_dim = cfg.dataset.input_dim;
  m.num_classes = cfg.dataset.num_classes;
  m.max_seq_len = cfg.dataset.max_seq_len;
  m.text_dim = cfg.is_nlq() ? cfg.dataset.text_dim : 0;
  m.train_cfg = cfg.train_cfg;
  m.test_cfg = cfg.test_cfg;

  if (m.use_xl) {
    XLConfig& xl = m.xl;
    const int64_t width = m.n_embd();
    if (!xl.n_head || !xl.d_head || !xl.d_inner) {
      const XLDefaults* row = nullptr;
      for (const auto& r : kXLTable) {
        if (r.n_embd == width) row = &r;
      }
      if (!row) {
        throw Error(source, "model.xl: no reference XLNet sizes for embedding width " +
                                std::to_string(width) + " (sum of model.embd_dim)",
                    "set model.xl.n_head, model.xl.d_head and model.xl.d_inner, or use a width of "
                    "256, 512, 1024 or 1536; an actionformer_release config, which has no XLNet "
                    "layer, needs model.use_xl: false");
      }
      if (!xl.n_head) xl.n_head = row->n_head;
      if (!xl.d_head) xl.d_head = row->d_head;
      if (!xl.d_inner) xl.d_inner = row->d_inner;
    }
  }
}

class Validator {
 public:
  explicit Validator(std::string source) : source_(std::move(source)) {}

  void require(bool ok, const std::string& path, const std::string& problem,
               const std::string& fix = "") const {
    if (!ok) throw Error(source_, path + ": " + problem, fix);
  }
  void one_of(const std::string& value, std::initializer_list<const char*> allowed,
              const std::string& path) const {
    std::vector<std::string> names;
    for (const char* a : allowed) {
      if (value == a) return;
      names.emplace_back(a);
    }
    throw Error(source_, path + ": '" + value + "' is not one of " + join(names, ", "));
  }
  void positive(int64_t v, const std::string& path) const {
    require(v > 0, path, "must be positive, got " + std::to_string(v));
  }
  void fraction(double v, const std::string& path, bool allow_one) const {
    require(v >= 0 && (allow_one ? v <= 1 : v < 1), path,
            "must be in [0, 1" + std::string(allow_one ? "]" : ")") + ", got " + format_double(v));
  }
  void unsupported(bool on, const std::string& path, const std::string& why) const {
    require(!on, path, "is not supported: " + why, "set it to false");
  }

 private:
  std::string source_;
};

void validate(const Config& cfg, const std::string& source) {
  const Validator v(source);
  const DatasetConfig& d = cfg.dataset;
  const ModelConfig& m = cfg.model;

  // dataset
  v.require(d.input_dim.size() > 0, "dataset.input_dim", "is empty");
  for (int64_t dim : d.input_dim.values) v.positive(dim, "dataset.input_dim");
  v.positive(d.num_classes, "dataset.num_classes");
  v.positive(d.feat_stride, "dataset.feat_stride");
  v.positive(d.num_frames, "dataset.num_frames");
  v.positive(d.downsample_rate, "dataset.downsample_rate");
  v.positive(d.max_seq_len, "dataset.max_seq_len");
  v.fraction(d.trunc_thresh, "dataset.trunc_thresh", true);
  if (d.default_fps) {
    v.require(*d.default_fps > 0, "dataset.default_fps", "must be positive or null");
  }
  if (d.crop_ratio) {
    const Range& r = *d.crop_ratio;
    v.require(r[0] > 0 && r[0] <= r[1] && r[1] <= 1, "dataset.crop_ratio",
              "must be [lo, hi] with 0 < lo <= hi <= 1, got [" + format_double(r[0]) + ", " +
                  format_double(r[1]) + "]");
  }
  if (d.input_dim.is_list && d.feat_folder.size() > 1) {
    v.require(d.feat_folder.size() == d.input_dim.size(), "dataset.feat_folder",
              std::to_string(d.feat_folder.size()) + " folders for " +
                  std::to_string(d.input_dim.size()) + " streams in dataset.input_dim",
              "give one folder per stream");
  }

  v.one_of(cfg.model_name, {"LocPointTransformer", Config::kNlqModelName}, "model_name");
  if (cfg.is_nlq()) {
    v.require(d.text_dim > 0, "dataset.text_dim", "must be the width of the query text features",
              "set dataset.text_dim (e.g. 256 for EgoVLP text tokens)");
    v.require(d.num_classes == 1, "dataset.num_classes",
              "must be 1 for ASL_NLQ (one class: the answer window), got " +
                  std::to_string(d.num_classes));
    v.positive(d.max_query_len, "dataset.max_query_len");
  }

  // loader
  v.positive(cfg.loader.batch_size, "loader.batch_size");
  v.require(cfg.loader.num_workers >= 0, "loader.num_workers", "must be >= 0");
  v.positive(cfg.loader.prefetch, "loader.prefetch");

  // model
  v.one_of(m.backbone_type, {"convTransformer"}, "model.backbone_type");
  v.one_of(m.fpn_type, {"identity", "fpn"}, "model.fpn_type");
  v.require(m.backbone_arch.size() == 3, "model.backbone_arch",
            "must have 3 entries (embedding, stem, branch layers), got " +
                std::to_string(m.backbone_arch.size()));
  for (int64_t n : m.backbone_arch) v.require(n >= 0, "model.backbone_arch", "entries must be >= 0");
  v.require(m.scale_factor >= 2, "model.scale_factor", "must be >= 2");
  v.require(m.fpn_start_level >= 0 && m.fpn_start_level <= m.backbone_arch[2],
            "model.fpn_start_level",
            "must be between 0 and the number of branch layers (" +
                std::to_string(m.backbone_arch[2]) + ")");
  const int64_t levels = m.num_levels();
  v.require(static_cast<int64_t>(m.regression_range.size()) == levels, "model.regression_range",
            std::to_string(m.regression_range.size()) + " ranges for " + std::to_string(levels) +
                " pyramid levels (backbone_arch[2] + 1 - fpn_start_level)",
            "give one [lo, hi] per level");
  for (const Range& r : m.regression_range) {
    v.require(r[0] >= 0 && r[0] < r[1], "model.regression_range",
              "each range must be [lo, hi] with 0 <= lo < hi, got [" + format_double(r[0]) +
                  ", " + format_double(r[1]) + "]");
  }
  if (m.n_mha_win_size.is_list) {
    v.require(static_cast<int64_t>(m.n_mha_win_size.size()) == m.backbone_arch[2] + 1,
              "model.n_mha_win_size",
              "a list needs one window per level (" + std::to_string(m.backbone_arch[2] + 1) +
                  "), got " + std::to_string(m.n_mha_win_size.size()));
  }
  const int64_t n_embd = m.n_embd();
  if (m.embd_dim.is_list) {
    v.require(d.input_dim.is_list && d.input_dim.size() == m.embd_dim.size(), "model.embd_dim",
              "a list needs dataset.input_dim to be a list of the same length (one projection "
              "per stream)");
  }
  for (int64_t e : m.embd_dim.values) v.positive(e, "model.embd_dim");
  v.positive(m.n_head, "model.n_head");
  v.require(n_embd % m.n_head == 0, "model.n_head",
            "the embedding width " + std::to_string(n_embd) + " is not divisible by " +
                std::to_string(m.n_head) + " heads");
  v.positive(m.fpn_dim, "model.fpn_dim");
  v.positive(m.head_dim, "model.head_dim");
  v.positive(m.head_num_layers, "model.head_num_layers");
  v.require(m.embd_kernel_size % 2 == 1, "model.embd_kernel_size", "must be odd");
  v.require(m.head_kernel_size % 2 == 1, "model.head_kernel_size", "must be odd");
  v.require(m.max_buffer_len_factor >= 1, "model.max_buffer_len_factor", "must be >= 1");
  v.unsupported(m.use_rel_pe, "model.use_rel_pe", "relative position encoding is dead code in the reference");
  {
    // Reference: max_seq_len divisible by every level's stride x window.
    const auto strides = m.fpn_strides();
    const auto windows = m.mha_win_sizes();
    for (std::size_t l = 0; l < strides.size(); ++l) {
      const int64_t w = windows[l + m.fpn_start_level];
      const int64_t s = w > 1 ? strides[l] * (w / 2) * 2 : strides[l];
      v.require(d.max_seq_len % s == 0, "dataset.max_seq_len",
                std::to_string(d.max_seq_len) + " is not divisible by " + std::to_string(s) +
                    " (stride " + std::to_string(strides[l]) +
                    (w > 1 ? " x window " + std::to_string(w) : "") + " of level " +
                    std::to_string(l) + ")",
                "use a multiple of " + std::to_string(m.max_div_factor()));
    }
  }
  if (m.use_xl) {
    const XLConfig& xl = m.xl;
    v.positive(*xl.n_head, "model.xl.n_head");
    v.positive(*xl.d_head, "model.xl.d_head");
    v.positive(*xl.d_inner, "model.xl.d_inner");
    v.require(*xl.n_head * *xl.d_head == n_embd, "model.xl",
              "n_head x d_head = " + std::to_string(*xl.n_head * *xl.d_head) +
                  " must equal the embedding width " + std::to_string(n_embd));
    v.fraction(xl.dropout, "model.xl.dropout", false);
    v.require(xl.layer_norm_eps > 0, "model.xl.layer_norm_eps", "must be positive");
  }

  // train_cfg
  const TrainConfig& t = cfg.train_cfg;
  v.one_of(t.center_sample, {"radius", "none"}, "train_cfg.center_sample");
  v.require(t.center_sample_radius > 0, "train_cfg.center_sample_radius", "must be positive");
  v.require(t.cls_prior_prob > 0 && t.cls_prior_prob < 1, "train_cfg.cls_prior_prob",
            "must be in (0, 1)");
  v.require(t.init_loss_norm > 0, "train_cfg.init_loss_norm", "must be positive");
  v.fraction(t.dropout, "train_cfg.dropout", false);
  v.fraction(t.droppath, "train_cfg.droppath", false);
  v.fraction(t.t_c_alpha, "train_cfg.t_c_alpha", true);
  v.require(t.label_smoothing >= 0 && t.label_smoothing < 1, "train_cfg.label_smoothing",
            "must be in [0, 1)");
  for (int64_t c : t.head_empty_cls) {
    v.require(c >= 0 && c < d.num_classes, "train_cfg.head_empty_cls",
              "class id " + std::to_string(c) + " outside [0, dataset.num_classes)");
  }
  v.unsupported(t.use_dcn, "train_cfg.use_dcn", "deformable convolutions are dead code in the reference");
  v.unsupported(t.use_us_fpn, "train_cfg.use_us_fpn", "the upsampling FPN path is dead code in the reference");
  v.unsupported(t.use_trident_head, "train_cfg.use_trident_head", "the trident head is dead code in the reference");

  v.one_of(t.on_nonfinite, {"skip", "stop"}, "train_cfg.on_nonfinite");

  // test_cfg
  const TestConfig& te = cfg.test_cfg;
  v.one_of(te.nms_method, {"soft", "hard", "none"}, "test_cfg.nms_method");
  v.positive(te.pre_nms_topk, "test_cfg.pre_nms_topk");
  v.positive(te.max_seg_num, "test_cfg.max_seg_num");
  v.require(te.nms_sigma > 0, "test_cfg.nms_sigma", "must be positive");
  v.fraction(te.iou_threshold, "test_cfg.iou_threshold", true);
  v.fraction(te.voting_thresh, "test_cfg.voting_thresh", true);
  v.require(te.duration_thresh >= 0, "test_cfg.duration_thresh", "must be >= 0");
  v.require(!te.ext_score_file, "test_cfg.ext_score_file",
            "external classification scores are not supported", "set it to null");

  // opt
  const OptConfig& o = cfg.opt;
  v.one_of(o.type, {"AdamW", "SGD"}, "opt.type");
  v.one_of(o.schedule_type, {"cosine", "multistep"}, "opt.schedule_type");
  // The reference's other choices, which none of its Ego4D configs uses, are refused here
  // rather than after the model and data are built.
  v.require(o.type == "AdamW", "opt.type", "SGD is not implemented in this project",
            "use AdamW, as every Ego4D config of the reference does");
  v.require(o.schedule_type == "cosine", "opt.schedule_type",
            "multistep is not implemented in this project",
            "use cosine (with warm-up), as every Ego4D config of the reference does");
  v.one_of(o.amp, {"off", "bf16", "fp16"}, "opt.amp");
  v.require(o.learning_rate > 0, "opt.learning_rate", "must be positive");
  v.require(o.weight_decay >= 0, "opt.weight_decay", "must be >= 0");
  v.require(o.ema_decay >= 0 && o.ema_decay < 1, "opt.ema_decay", "must be in [0, 1)");
  v.positive(o.epochs, "opt.epochs");
  v.require(o.warmup_epochs >= 0, "opt.warmup_epochs", "must be >= 0");
  v.require(!o.warmup || o.warmup_epochs > 0, "opt.warmup_epochs",
            "must be positive when opt.warmup is true");
  for (int64_t s : o.schedule_steps) {
    v.require(s >= 0 && s <= o.epochs, "opt.schedule_steps", "steps must lie in [0, opt.epochs]");
  }

  // this project's sections
  v.one_of(cfg.dist.backend, {"auto", "mpi", "nccl"}, "dist.backend");
  v.one_of(cfg.dist.sharding, {"epoch", "fixed"}, "dist.sharding");
  v.one_of(cfg.dist.device, {"auto", "cpu", "cuda"}, "dist.device");
  v.require(cfg.dist.bucket_mb > 0, "dist.bucket_mb", "must be positive");
  v.require(cfg.dist.timeout_s > 0, "dist.timeout_s", "must be positive");
  v.require(cfg.dist.root_timeout_s > 0, "dist.root_timeout_s", "must be positive");
  v.require(cfg.monitoring.port >= 0 && cfg.monitoring.port <= 65535, "monitoring.port",
            "must be in [0, 65535] (0 turns the endpoint off)");
  v.require(!cfg.monitoring.address.empty(), "monitoring.address", "is empty",
            "use 127.0.0.1 (this machine only) or 0.0.0.0 (every interface)");
  v.require(!cfg.monitoring.job.empty(), "monitoring.job", "is empty");
  v.require(cfg.monitoring.linger_s >= 0, "monitoring.linger_s", "must be >= 0");
  v.positive(cfg.checkpoint.every_epochs, "checkpoint.every_epochs");
  v.positive(cfg.checkpoint.keep, "checkpoint.keep");
  if (cfg.store.path && !cfg.store.streams.empty() && d.input_dim.is_list) {
    v.require(cfg.store.streams.size() == d.input_dim.size(), "store.streams",
              std::to_string(cfg.store.streams.size()) + " streams for " +
                  std::to_string(d.input_dim.size()) + " entries of dataset.input_dim");
  }
  v.require(!cfg.train_split.empty(), "train_split", "is empty");
  v.require(!cfg.val_split.empty(), "val_split", "is empty");
}

Config load_node(const YAML::Node& root, const std::string& source,
                 const std::vector<std::string>& overrides) {
  if (!root.IsDefined() || root.IsNull()) {
    throw Error(source, "the config is empty", "start from one of configs/*.yaml");
  }
  Config cfg;
  LoadContext ctx{source, {}};
  try {
    Reader::read(root, "", cfg, ctx);
    for (const auto& spec : overrides) apply_override(cfg, spec, ctx);
    derive(cfg, source);
    for (auto& check : ctx.derived_checks) check();
  } catch (const YAML::Exception& e) {
    // Whatever shape the YAML takes, one clear error (the readers above name most cases).
    throw Error(source, "cannot read the config: " + e.msg + " (line " +
                            std::to_string(e.mark.line + 1) + ")",
                "compare with configs/demo.yaml");
  }
  validate(cfg, source);
  return cfg;
}

}  // namespace

Config load_config(const std::string& path, const std::vector<std::string>& overrides) {
  std::ifstream in(path);
  if (!in) throw Error(path, "cannot open the config file", "check the path");
  std::stringstream text;
  text << in.rdbuf();
  return load_node(parse_yaml(text.str(), path), path, overrides);
}

Config load_config_text(const std::string& yaml, const std::string& source,
                        const std::vector<std::string>& overrides) {
  return load_node(parse_yaml(yaml, source), source, overrides);
}

std::string to_yaml(const Config& cfg) {
  Config copy = cfg;
  return emit(copy) + "\n";
}

std::vector<std::string> key_paths() {
  std::vector<std::string> out;
  Config cfg;
  KeyCollector collector(out, "");
  cfg.visit(collector);
  return out;
}

}  // namespace asl::config
