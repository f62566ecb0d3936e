// A one-pass JSON scanner over bytes, for files of millions of small objects (prediction
// files), where building and then freeing a tree cost more than the scoring itself.
//
// It accepts what nlohmann's parser did (RFC 8259, UTF-8 checked, a leading BOM skipped,
// finite numbers only) and reads the values as it did: integers are integers until converted
// (so -0 is +0.0), other numbers are the correctly rounded double, as Python's float() reads
// them. (The prediction reader keeps, as nlohmann did, a duplicate key's last value at the
// first key's place.)
//
// Header-only: the reader's inner loop calls these small methods millions of times.
#pragma once

#include <charconv>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <string_view>

namespace asl::eval::json {

// Malformed JSON, at a byte offset; turned into an asl::Error with line and column.
struct SyntaxError {
  size_t offset;
  std::string problem;
};

enum class Kind { kObject, kArray, kString, kNumber, kBoolean, kNull };

// The names nlohmann's type_name() gave, which the messages quote.
inline const char* kind_name(Kind k) {
  switch (k) {
    case Kind::kObject: return "object";
    case Kind::kArray: return "array";
    case Kind::kString: return "string";
    case Kind::kNumber: return "number";
    case Kind::kBoolean: return "boolean";
    case Kind::kNull: return "null";
  }
  return "value";
}

// Bytes a string can hold as they are: not '"', '\\', a control character or non-ASCII.
struct PlainTable {
  bool plain[256];
  constexpr PlainTable() : plain() {
    for (int c = 0; c < 256; ++c) plain[c] = c >= 0x20 && c < 0x80 && c != '"' && c != '\\';
  }
};
inline constexpr PlainTable kPlain;

inline void append_utf8(std::string& out, uint32_t cp) {
  if (cp < 0x80) {
    out += static_cast<char>(cp);
  } else if (cp < 0x800) {
    out += static_cast<char>(0xC0 | (cp >> 6));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    out += static_cast<char>(0xE0 | (cp >> 12));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else {
    out += static_cast<char>(0xF0 | (cp >> 18));
    out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  }
}

class Scanner {
 public:
  Scanner(const char* begin, const char* end) : begin_(begin), p_(begin), end_(end) {
    if (end_ - p_ >= 3 && std::memcmp(p_, "\xEF\xBB\xBF", 3) == 0) p_ += 3;  // as nlohmann
  }

  [[noreturn]] void fail(const std::string& problem) const {
    throw SyntaxError{static_cast<size_t>(p_ - begin_), problem};
  }
  // "unexpected 'x'" for the byte here, in hex when it is not printable.
  [[noreturn]] void unexpected(const std::string& expected) const {
    if (p_ == end_) fail("unexpected end of input; expected " + expected);
    const auto c = static_cast<unsigned char>(*p_);
    char shown[16];
    if (c >= 0x20 && c < 0x7F) std::snprintf(shown, sizeof shown, "'%c'", c);
    else std::snprintf(shown, sizeof shown, "byte 0x%02X", c);
    fail(std::string("unexpected ") + shown + "; expected " + expected);
  }

  void skip_whitespace() {
    while (p_ < end_ && (*p_ == ' ' || *p_ == '\n' || *p_ == '\r' || *p_ == '\t')) ++p_;
  }
  bool at_end() const { return p_ == end_; }

  // The kind of the value that starts here (after whitespace).
  Kind next_kind() {
    skip_whitespace();
    if (p_ == end_) unexpected("a value");
    switch (*p_) {
      case '{': return Kind::kObject;
      case '[': return Kind::kArray;
      case '"': return Kind::kString;
      case 't': case 'f': return Kind::kBoolean;
      case 'n': return Kind::kNull;
      default:
        if (starts_with("NaN") || starts_with("Infinity") || starts_with("-Infinity")) {
          fail("NaN and Infinity are not JSON numbers (a non-finite score or segment written "
               "by Python's json.dump?)");
        }
        if (*p_ == '-' || (*p_ >= '0' && *p_ <= '9')) return Kind::kNumber;
        unexpected("a value");
    }
  }

  // Consumes `c` after whitespace.
  void expect(char c) {
    skip_whitespace();
    if (p_ == end_ || *p_ != c) unexpected(std::string("'") + c + "'");
    ++p_;
  }

  // Containers: begin_container() consumes the opener and says whether anything is inside;
  // after each member or element, next_in_container() says whether another follows; key()
  // reads a member's key and the ':' after it.
  bool begin_container(char open, char close) {
    expect(open);
    skip_whitespace();
    if (p_ < end_ && *p_ == close) {
      ++p_;
      return false;
    }
    return true;
  }
  // After a member or element: true when another follows.
  bool next_in_container(char close) {
    skip_whitespace();
    if (p_ == end_) unexpected(std::string("',' or '") + close + "'");
    if (*p_ == ',') {
      ++p_;
      return true;
    }
    if (*p_ == close) {
      ++p_;
      return false;
    }
    unexpected(std::string("',' or '") + close + "'");
  }
  // A member's key and the ':' after it.
  std::string_view key() {
    skip_whitespace();
    if (p_ == end_ || *p_ != '"') unexpected("a key in quotes");
    const std::string_view k = string();
    expect(':');
    return k;
  }

  // A string at '"': a view of the bytes when they need no decoding, else of `scratch_`
  // (valid until the next string()).
  std::string_view string() {
    ++p_;  // '"'
    const char* start = p_;
    while (p_ < end_ && kPlain.plain[static_cast<unsigned char>(*p_)]) ++p_;
    if (p_ < end_ && *p_ == '"') return std::string_view(start, static_cast<size_t>(p_++ - start));
    scratch_.assign(start, p_);
    while (true) {
      if (p_ == end_) fail("unexpected end of input in a string");
      const unsigned char c = static_cast<unsigned char>(*p_);
      if (c == '"') {
        ++p_;
        return scratch_;
      }
      if (c == '\\') {
        escape();
      } else if (c < 0x20) {
        fail("control character in a string (write it as an escape, e.g. \\n)");
      } else if (c < 0x80) {
        scratch_ += static_cast<char>(c);
        ++p_;
      } else {
        utf8_sequence();
      }
    }
  }

  double number() {
    const char* start = p_;
    if (*p_ == '-') ++p_;
    if (p_ == end_ || !is_digit(*p_)) fail("a number needs a digit after '-'");
    if (*p_ == '0') {
      ++p_;
    } else {
      while (p_ < end_ && is_digit(*p_)) ++p_;
    }
    bool integer = true;
    if (p_ < end_ && *p_ == '.') {
      integer = false;
      ++p_;
      if (p_ == end_ || !is_digit(*p_)) fail("a number needs a digit after '.'");
      while (p_ < end_ && is_digit(*p_)) ++p_;
    }
    if (p_ < end_ && (*p_ == 'e' || *p_ == 'E')) {
      integer = false;
      ++p_;
      if (p_ < end_ && (*p_ == '+' || *p_ == '-')) ++p_;
      if (p_ == end_ || !is_digit(*p_)) fail("a number needs a digit in its exponent");
      while (p_ < end_ && is_digit(*p_)) ++p_;
    }
    double value = 0;
    const auto [last, ec] = std::from_chars(start, p_, value);
    if (ec == std::errc::result_out_of_range || last != p_) {
      // Underflow reads as 0 (or a subnormal), as in Python and nlohmann; overflow to
      // infinity is refused, as nlohmann did (Python would read inf).
      value = std::strtod(std::string(start, p_).c_str(), nullptr);
      if (std::isinf(value)) {
        const std::string text(start, std::min<size_t>(static_cast<size_t>(p_ - start), 40));
        p_ = start;
        fail("number " + text + " is too large for a double");
      }
    }
    // nlohmann read integers as int64: "-0" is the integer 0, +0.0 as a double.
    if (integer && value == 0) value = 0;
    return value;
  }

  // Any value, checked and dropped. Iterative: nesting depth costs no stack.
  void skip_value() {
    std::string open;  // the closers of the containers we are in
    while (true) {
      switch (next_kind()) {
        case Kind::kObject:
          if (begin_container('{', '}')) {
            open += '}';
            key();
            continue;
          }
          break;
        case Kind::kArray:
          if (begin_container('[', ']')) {
            open += ']';
            continue;
          }
          break;
        case Kind::kString: string(); break;
        case Kind::kNumber: number(); break;
        case Kind::kBoolean: literal(*p_ == 't' ? "true" : "false"); break;
        case Kind::kNull: literal("null"); break;
      }
      // A value is complete: close containers until one has a next member or element.
      while (!open.empty() && !next_in_container(open.back())) open.pop_back();
      if (open.empty()) return;
      if (open.back() == '}') key();
    }
  }

  const char* position() const { return p_; }
  void advance(size_t n) { p_ += n; }

 private:
  static bool is_digit(char c) { return c >= '0' && c <= '9'; }
  bool starts_with(std::string_view word) const {
    return static_cast<size_t>(end_ - p_) >= word.size() && std::memcmp(p_, word.data(), word.size()) == 0;
  }

  void literal(const char* word) {
    const size_t n = std::strlen(word);
    if (static_cast<size_t>(end_ - p_) < n || std::memcmp(p_, word, n) != 0) {
      fail(std::string("invalid literal; expected '") + word + "'");
    }
    p_ += n;
  }

  uint32_t hex4() {
    if (end_ - p_ < 4) fail("unexpected end of input in a \\u escape");
    uint32_t v = 0;
    for (int i = 0; i < 4; ++i, ++p_) {
      const char c = *p_;
      v <<= 4;
      if (c >= '0' && c <= '9') v |= static_cast<uint32_t>(c - '0');
      else if (c >= 'a' && c <= 'f') v |= static_cast<uint32_t>(c - 'a' + 10);
      else if (c >= 'A' && c <= 'F') v |= static_cast<uint32_t>(c - 'A' + 10);
      else fail("a \\u escape needs four hex digits");
    }
    return v;
  }

  void escape() {
    ++p_;  // '\\'
    if (p_ == end_) fail("unexpected end of input in an escape");
    const char c = *p_++;
    switch (c) {
      case '"': scratch_ += '"'; return;
      case '\\': scratch_ += '\\'; return;
      case '/': scratch_ += '/'; return;
      case 'b': scratch_ += '\b'; return;
      case 'f': scratch_ += '\f'; return;
      case 'n': scratch_ += '\n'; return;
      case 'r': scratch_ += '\r'; return;
      case 't': scratch_ += '\t'; return;
      case 'u': break;
      default: --p_; fail(std::string("invalid escape '\\") + c + "'");
    }
    uint32_t cp = hex4();
    if (cp >= 0xD800 && cp <= 0xDBFF) {
      // A surrogate pair: the low half must follow as another \u escape.
      if (end_ - p_ < 2 || p_[0] != '\\' || p_[1] != 'u') fail("a lone UTF-16 high surrogate");
      p_ += 2;
      const uint32_t low = hex4();
      if (low < 0xDC00 || low > 0xDFFF) fail("a UTF-16 high surrogate without its low half");
      cp = 0x10000 + ((cp - 0xD800) << 10) + (low - 0xDC00);
    } else if (cp >= 0xDC00 && cp <= 0xDFFF) {
      fail("a lone UTF-16 low surrogate");
    }
    append_utf8(scratch_, cp);
  }

  // One multi-byte UTF-8 character, checked as RFC 3629 (and nlohmann) define it.
  void utf8_sequence() {
    const auto byte = [&](ptrdiff_t i) {
      return p_ + i < end_ ? static_cast<unsigned char>(p_[i]) : 0u;
    };
    const unsigned lead = byte(0);
    int n = 0;
    unsigned lo = 0x80, hi = 0xBF;  // range of the second byte
    if (lead >= 0xC2 && lead <= 0xDF) n = 1;
    else if (lead == 0xE0) n = 2, lo = 0xA0;
    else if ((lead >= 0xE1 && lead <= 0xEC) || lead == 0xEE || lead == 0xEF) n = 2;
    else if (lead == 0xED) n = 2, hi = 0x9F;
    else if (lead == 0xF0) n = 3, lo = 0x90;
    else if (lead >= 0xF1 && lead <= 0xF3) n = 3;
    else if (lead == 0xF4) n = 3, hi = 0x8F;
    else fail("invalid UTF-8 byte in a string");
    for (int i = 1; i <= n; ++i) {
      const unsigned b = byte(i);
      if (b < (i == 1 ? lo : 0x80u) || b > (i == 1 ? hi : 0xBFu)) {
        fail("invalid UTF-8 sequence in a string");
      }
    }
    scratch_.append(p_, static_cast<size_t>(n + 1));
    p_ += n + 1;
  }

  const char* begin_;
  const char* p_;
  const char* end_;
  std::string scratch_;
};

// "line L, column C" of a byte offset.
inline std::string line_and_column(const char* begin, size_t offset) {
  size_t line = 1, column = 1;
  for (size_t i = 0; i < offset; ++i) {
    if (begin[i] == '\n') {
      ++line;
      column = 1;
    } else {
      ++column;
    }
  }
  return "line " + std::to_string(line) + ", column " + std::to_string(column);
}

}  // namespace asl::eval::json
