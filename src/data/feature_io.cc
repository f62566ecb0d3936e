// Feature files without LibTorch: dtypes, NumPy .npy, dispatch by extension, finiteness
// checks and cutting per-video features to clips. The .pt reader lives in feature_pt.cc.
#include "data/feature_io.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <limits>
#include <map>
#include <sstream>

#include "core/error.h"
#include "core/fs.h"

// .npy data is little-endian and is copied with memcpy; a big-endian host would need swaps.
static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__,
              "feature files assume a little-endian host");

namespace asl::data {
namespace {

constexpr char kNpyMagic[] = "\x93NUMPY";
constexpr size_t kNpyMagicSize = 6;
constexpr const char* kNpyResave =
    "re-save it with numpy: np.save(path, np.ascontiguousarray(a, dtype=np.float32))";

std::string shape_text(const std::vector<int64_t>& shape) {
  std::string s = "(";
  for (size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + (shape.size() == 1 ? ",)" : ")");
}

// The header of an .npy file is a Python dict literal, e.g.
//   {'descr': '<f4', 'fortran_order': False, 'shape': (300, 2304), }
// This parser accepts exactly the literals NumPy writes there: strings, True/False and
// tuples of integers. Anything else is reported as a bad header.
class NpyHeaderParser {
 public:
  struct Value {
    enum Kind { kString, kBool, kTuple } kind = kString;
    std::string text;
    bool flag = false;
    std::vector<int64_t> ints;
  };

  NpyHeaderParser(const std::string& path, const std::string& text) : path_(path), s_(text) {}

  std::map<std::string, Value> parse() {
    std::map<std::string, Value> dict;
    expect('{');
    while (true) {
      skip_space();
      if (peek() == '}') break;
      const std::string key = parse_string();
      expect(':');
      if (dict.count(key)) fail("the key '" + key + "' appears twice");
      dict[key] = parse_value(key);
      skip_space();
      if (peek() == ',') {
        ++i_;
        continue;
      }
      if (peek() != '}') fail("expected ',' or '}' at byte " + std::to_string(i_));
    }
    ++i_;
    skip_space();
    if (i_ != s_.size()) fail("unexpected text after the dict at byte " + std::to_string(i_));
    return dict;
  }

 private:
  [[noreturn]] void fail(const std::string& why) const {
    throw Error(path_, "not a valid .npy header: " + why, kNpyResave);
  }
  char peek() const { return i_ < s_.size() ? s_[i_] : '\0'; }
  void skip_space() {
    while (i_ < s_.size() && std::isspace(static_cast<unsigned char>(s_[i_]))) ++i_;
  }
  void expect(char c) {
    skip_space();
    if (peek() != c) fail(std::string("expected '") + c + "' at byte " + std::to_string(i_));
    ++i_;
  }
  std::string parse_string() {
    skip_space();
    const char quote = peek();
    if (quote != '\'' && quote != '"') fail("expected a quoted key at byte " + std::to_string(i_));
    const size_t end = s_.find(quote, i_ + 1);
    if (end == std::string::npos) fail("unterminated string at byte " + std::to_string(i_));
    std::string text = s_.substr(i_ + 1, end - i_ - 1);
    i_ = end + 1;
    return text;
  }
  Value parse_value(const std::string& key) {
    skip_space();
    Value v;
    const char c = peek();
    if (c == '\'' || c == '"') {
      v.kind = Value::kString;
      v.text = parse_string();
    } else if (s_.compare(i_, 4, "True") == 0 || s_.compare(i_, 5, "False") == 0) {
      v.kind = Value::kBool;
      v.flag = s_[i_] == 'T';
      i_ += v.flag ? 4 : 5;
    } else if (c == '(') {
      v.kind = Value::kTuple;
      ++i_;
      while (true) {
        skip_space();
        if (peek() == ')') break;
        v.ints.push_back(parse_int());
        skip_space();
        if (peek() == ',') {
          ++i_;
        } else if (peek() != ')') {
          fail("expected ',' or ')' in '" + key + "' at byte " + std::to_string(i_));
        }
      }
      ++i_;
    } else if (c == '[' && key == "descr") {
      throw Error(path_, "holds a structured array (record dtype), not a plain float matrix",
                  kNpyResave);
    } else {
      fail("unsupported value for '" + key + "' at byte " + std::to_string(i_));
    }
    return v;
  }
  int64_t parse_int() {
    const size_t start = i_;
    int64_t n = 0;
    while (std::isdigit(static_cast<unsigned char>(peek()))) {
      if (i_ - start >= 18) fail("a dimension in 'shape' is too large");
      n = n * 10 + (peek() - '0');
      ++i_;
    }
    if (i_ == start)
      fail("expected a non-negative integer in 'shape' at byte " + std::to_string(i_));
    if (peek() == 'L') ++i_;  // Python 2 long literal
    return n;
  }

  const std::string& path_;
  const std::string& s_;
  size_t i_ = 0;
};

uint32_t read_le(const std::string& bytes, size_t at, size_t width) {
  uint32_t v = 0;
  for (size_t i = 0; i < width; ++i)
    v |= static_cast<uint32_t>(static_cast<uint8_t>(bytes[at + i])) << (8 * i);
  return v;
}

void append_le(std::string& out, uint32_t v, size_t width) {
  for (size_t i = 0; i < width; ++i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xffu));
}

void check_shape(const std::string& path, const FeatureMatrix& m) {
  if (m.rows < 0 || m.cols < 0 || m.values.size() != static_cast<size_t>(m.rows * m.cols)) {
    throw Error(path,
                "the matrix holds " + std::to_string(m.values.size()) + " values for " +
                    std::to_string(m.rows) + " x " + std::to_string(m.cols),
                "this is a bug in the caller");
  }
}

std::string lower_extension(const std::string& path) {
  std::string ext = std::filesystem::path(path).extension().string();
  std::transform(ext.begin(), ext.end(), ext.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return ext;
}

// Nearest integer when x is within float noise of it (seconds * fps computed in double
// from decimal seconds, e.g. 3.2 * 1.875 = 6.000000000000001), else x itself.
double snap(double x) {
  const double r = std::round(x);
  return std::fabs(x - r) <= 1e-6 ? r : x;
}

std::string seconds_text(double s) {
  std::ostringstream o;
  o << s;
  return o.str();
}

}  // namespace

const char* dtype_name(DType dtype) { return dtype == DType::F16 ? "f16" : "f32"; }

DType parse_dtype(const std::string& name) {
  if (name == "f16") return DType::F16;
  if (name == "f32") return DType::F32;
  throw Error("dtype '" + name + "'", "is not a feature dtype", "use f16 or f32");
}

FeatureMatrix read_npy(const std::string& path) {
  const std::string bytes = read_file(path);
  if (bytes.size() < kNpyMagicSize + 2 || bytes.compare(0, kNpyMagicSize, kNpyMagic) != 0) {
    throw Error(path, "not a NumPy .npy file (the magic bytes \\x93NUMPY are missing)",
                "check the path, or re-save it with np.save(path, a)");
  }
  const int major = static_cast<uint8_t>(bytes[6]);
  const int minor = static_cast<uint8_t>(bytes[7]);
  if (major < 1 || major > 3) {
    throw Error(path,
                "unknown .npy format version " + std::to_string(major) + "." +
                    std::to_string(minor) + " (versions 1, 2 and 3 are read)",
                kNpyResave);
  }
  const size_t len_width = major == 1 ? 2 : 4;
  const size_t header_start = kNpyMagicSize + 2 + len_width;
  if (bytes.size() < header_start) {
    throw Error(path, "the file is truncated inside the .npy header", "re-create the file");
  }
  const size_t header_len = read_le(bytes, kNpyMagicSize + 2, len_width);
  if (bytes.size() - header_start < header_len) {
    throw Error(path,
                "the file is truncated inside the .npy header (" + std::to_string(header_len) +
                    " header bytes announced, " + std::to_string(bytes.size() - header_start) +
                    " present)",
                "re-create the file");
  }
  const std::string header = bytes.substr(header_start, header_len);
  auto dict = NpyHeaderParser(path, header).parse();
  for (const char* key : {"descr", "fortran_order", "shape"}) {
    if (!dict.count(key)) {
      throw Error(path, std::string("not a valid .npy header: the key '") + key + "' is missing",
                  kNpyResave);
    }
  }
  if (dict.size() != 3) {
    throw Error(path, "not a valid .npy header: keys other than descr, fortran_order and shape",
                kNpyResave);
  }
  const auto& descr = dict["descr"];
  const auto& fortran = dict["fortran_order"];
  const auto& shape_value = dict["shape"];
  if (descr.kind != NpyHeaderParser::Value::kString ||
      fortran.kind != NpyHeaderParser::Value::kBool ||
      shape_value.kind != NpyHeaderParser::Value::kTuple) {
    throw Error(path,
                "not a valid .npy header: descr must be a string, fortran_order True or "
                "False, shape a tuple",
                kNpyResave);
  }

  size_t item_size = 0;
  if (descr.text == "<f4") {
    item_size = 4;
  } else if (descr.text == "<f2") {
    item_size = 2;
  } else if (descr.text == ">f4" || descr.text == ">f2") {
    throw Error(path, "holds big-endian floats ('" + descr.text + "'); only little-endian is read",
                "re-save it with np.save(path, a.astype('<" + descr.text.substr(1) + "'))");
  } else {
    throw Error(path,
                "holds dtype '" + descr.text +
                    "'; feature files must be float32 ('<f4') or "
                    "float16 ('<f2')",
                "re-save it with np.save(path, a.astype(np.float32))");
  }
  if (fortran.flag) {
    throw Error(path, "is stored in Fortran (column-major) order; only C order is read",
                "re-save it with np.save(path, np.ascontiguousarray(a))");
  }
  const auto& shape = shape_value.ints;
  if (shape.size() != 2) {
    throw Error(path,
                "has shape " + shape_text(shape) + " (" + std::to_string(shape.size()) +
                    "-D); feature files must be 2-D, T x D (time steps x channels)",
                "save one clip or video per file as a T x D array");
  }

  const size_t data_bytes = bytes.size() - header_start - header_len;
  const int64_t rows = shape[0];
  const int64_t cols = shape[1];
  // A bogus shape must not wrap around in rows * cols * item_size.
  const int64_t max_elements =
      std::numeric_limits<int64_t>::max() / static_cast<int64_t>(item_size);
  const bool fits = cols == 0 || rows <= max_elements / cols;
  const size_t expected = fits ? static_cast<size_t>(rows * cols) * item_size : 0;
  if (!fits || data_bytes < expected) {
    throw Error(path,
                "the file is truncated: shape " + shape_text(shape) + " needs " +
                    (fits ? std::to_string(expected) + " bytes" : std::string("more bytes")) +
                    " of data, the file has " + std::to_string(data_bytes),
                "re-create the file");
  }
  if (data_bytes > expected) {
    throw Error(path,
                "has " + std::to_string(data_bytes - expected) +
                    " bytes after the array data (not a single np.save array)",
                "re-create the file with np.save(path, a)");
  }

  FeatureMatrix m(rows, cols);
  const char* data = bytes.data() + header_start + header_len;
  if (item_size == 4) {
    if (expected > 0) std::memcpy(m.values.data(), data, expected);
  } else {
    for (size_t i = 0; i < m.values.size(); ++i) {
      uint16_t h;
      std::memcpy(&h, data + 2 * i, 2);
      m.values[i] = half_to_float(h);
    }
  }
  return m;
}

void write_npy(const std::string& path, const FeatureMatrix& m, DType dtype) {
  check_shape(path, m);
  std::string header = std::string("{'descr': '") + (dtype == DType::F16 ? "<f2" : "<f4") +
                       "', 'fortran_order': False, 'shape': (" + std::to_string(m.rows) + ", " +
                       std::to_string(m.cols) + "), }";
  // NumPy pads the header with spaces and a newline so that the data starts 64-byte aligned.
  const bool v1 = header.size() + 1 + kNpyMagicSize + 2 + 2 <= 65535;
  const size_t prefix = kNpyMagicSize + 2 + (v1 ? 2 : 4);
  const size_t total = (prefix + header.size() + 1 + 63) / 64 * 64;
  header.append(total - prefix - header.size() - 1, ' ');
  header.push_back('\n');

  const size_t item_size = dtype == DType::F16 ? 2 : 4;
  std::string bytes(kNpyMagic, kNpyMagicSize);
  bytes.push_back(static_cast<char>(v1 ? 1 : 2));
  bytes.push_back(0);
  append_le(bytes, static_cast<uint32_t>(header.size()), v1 ? 2 : 4);
  bytes += header;
  const size_t data_at = bytes.size();
  bytes.resize(data_at + m.values.size() * item_size);
  char* data = bytes.data() + data_at;
  if (dtype == DType::F32) {
    if (!m.values.empty()) std::memcpy(data, m.values.data(), m.values.size() * 4);
  } else {
    for (size_t i = 0; i < m.values.size(); ++i) {
      const uint16_t h = float_to_half(m.values[i]);
      std::memcpy(data + 2 * i, &h, 2);
    }
  }
  write_file_atomic(path, bytes);
}

FeatureMatrix read_feature_file(const std::string& path) {
  const std::string ext = lower_extension(path);
  if (ext == ".npy") return read_npy(path);
  if (ext == ".pt" || ext == ".pth") return read_pt(path);
  throw Error(path, "unknown feature file type '" + ext + "'",
              "feature files are NumPy .npy or PyTorch .pt (torch.save of a T x D tensor)");
}

void check_finite(const FeatureMatrix& m, const std::string& where) {
  int64_t bad = 0;
  int64_t first = -1;
  for (size_t i = 0; i < m.values.size(); ++i) {
    if (!std::isfinite(m.values[i])) {
      if (bad++ == 0) first = static_cast<int64_t>(i);
    }
  }
  if (bad == 0) return;
  const int64_t row = m.cols > 0 ? first / m.cols : 0;
  const int64_t col = m.cols > 0 ? first % m.cols : 0;
  const float v = m.values[static_cast<size_t>(first)];
  const std::string what = std::isnan(v) ? "NaN" : (v > 0 ? "+Inf" : "-Inf");
  throw Error(where,
              std::to_string(bad) + " of " + std::to_string(m.values.size()) +
                  " feature values are NaN or Inf; the first is " + what + " at row " +
                  std::to_string(row) + ", column " + std::to_string(col),
              "re-extract these features or replace the bad values before packing");
}

FeatureMatrix cut_to_clip(const FeatureMatrix& video, double start_sec, double end_sec, double fps,
                          const std::string& where) {
  const std::string span = "[" + seconds_text(start_sec) + ", " + seconds_text(end_sec) + ") s";
  if (!(fps > 0) || !std::isfinite(fps)) {
    throw Error(where,
                "the feature rate must be a positive number of features per second, not " +
                    seconds_text(fps),
                "check the clip's fps or --feature-fps");
  }
  if (!std::isfinite(start_sec) || !std::isfinite(end_sec) || !(end_sec > start_sec)) {
    throw Error(where, "the clip's span " + span + " in its video is empty or not finite",
                "check parent_start_sec and parent_end_sec");
  }
  const double first_exact = std::floor(snap(start_sec * fps));
  const double last_exact = std::ceil(snap(end_sec * fps));
  const double video_sec = static_cast<double>(video.rows) / fps;
  if (last_exact <= 0 || first_exact >= static_cast<double>(video.rows)) {
    throw Error(where,
                "the clip's span " + span + " lies outside its video's features (" +
                    std::to_string(video.rows) + " rows at " + seconds_text(fps) +
                    " per second cover [0, " + seconds_text(video_sec) + ") s)",
                "check the clip's times and that the feature file belongs to its video");
  }
  const auto first = static_cast<int64_t>(std::max(0.0, first_exact));
  const auto last = static_cast<int64_t>(std::min(static_cast<double>(video.rows), last_exact));
  FeatureMatrix clip(last - first, video.cols);
  std::copy(video.values.begin() + first * video.cols, video.values.begin() + last * video.cols,
            clip.values.begin());
  return clip;
}

}  // namespace asl::data
