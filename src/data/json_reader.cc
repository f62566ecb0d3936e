#include "data/json_reader.h"

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "core/error.h"
#include "core/strings.h"
#include "data/annotations.h"

namespace asl::data::json_reader {

JsonPath JsonPath::key(const std::string& name) const {
  return JsonPath(file_, clip_, key_.empty() ? name : key_ + "." + name);
}

JsonPath JsonPath::index(std::size_t i) const {
  return JsonPath(file_, clip_, key_ + "[" + std::to_string(i) + "]");
}

JsonPath JsonPath::in_clip(const std::string& clip_id) const {
  return JsonPath(file_, clip_id, "");
}

std::string JsonPath::where() const {
  std::string w = file_;
  auto add = [&w](const std::string& part) {
    if (part.empty()) return;
    w += w.empty() ? part : ": " + part;
  };
  if (!clip_.empty()) add("clip " + clip_);
  add(key_);
  return w;
}

void JsonPath::fail(const std::string& problem, const std::string& fix) const {
  throw Error(where(), problem, fix);
}

Json parse_json(const std::string& text, const std::string& file,
                const Json::parser_callback_t& callback) {
  try {
    return Json::parse(text, callback);
  } catch (const Json::parse_error& e) {
    // nlohmann says "[json.exception.parse_error.101] parse error at line 3, column 6: ...";
    // keep the part from "at line".
    std::string detail = e.what();
    const auto at = detail.find("at line ");
    detail = at == std::string::npos ? detail + " (byte " + std::to_string(e.byte) + ")"
                                     : detail.substr(at);
    throw Error(file, "malformed JSON " + one_line(detail),
                "fix the JSON syntax at that position");
  } catch (const Json::out_of_range& e) {
    // A number that does not fit a double ("1e400"): found by tests/fuzz/fuzz_annotations.cc.
    std::string detail = e.what();
    const auto at = detail.find("] ");
    throw Error(file, "unreadable JSON: " + one_line(at == std::string::npos ? detail : detail.substr(at + 2)),
                "write numbers that fit a double");
  }
}

const Json* optional_member(const Json& object, const char* name) {
  const auto it = object.find(name);
  return it == object.end() ? nullptr : &*it;
}

const Json& member(const Json& object, const char* name, const JsonPath& at) {
  const Json* value = optional_member(object, name);
  if (value == nullptr) at.key(name).fail("missing", "every entry needs the key '" + std::string(name) + "'");
  return *value;
}

namespace {

std::string type_name(const Json& value) {
  if (value.is_number()) return "a number";
  if (value.is_string()) return "a string";
  if (value.is_boolean()) return "a boolean";
  if (value.is_null()) return "null";
  if (value.is_array()) return "an array";
  if (value.is_object()) return "an object";
  return value.type_name();
}

[[noreturn]] void wrong_type(const Json& value, const JsonPath& at, const char* expected) {
  at.fail(std::string("expected ") + expected + ", found " + type_name(value));
}

}  // namespace

const Json& as_object(const Json& value, const JsonPath& at) {
  if (!value.is_object()) wrong_type(value, at, "an object");
  return value;
}

const Json& as_array(const Json& value, const JsonPath& at) {
  if (!value.is_array()) wrong_type(value, at, "an array");
  return value;
}

double as_number(const Json& value, const JsonPath& at) {
  if (!value.is_number()) wrong_type(value, at, "a number");
  return value.get<double>();
}

int64_t as_integer(const Json& value, const JsonPath& at) {
  if (value.is_number_unsigned()) {
    const auto u = value.get<uint64_t>();
    if (u > static_cast<uint64_t>(INT64_MAX)) at.fail("integer " + value.dump() + " is too large");
    return static_cast<int64_t>(u);
  }
  if (value.is_number_integer()) return value.get<int64_t>();
  if (value.is_number_float()) at.fail("expected an integer, found " + value.dump());
  wrong_type(value, at, "an integer");
}

bool as_bool(const Json& value, const JsonPath& at) {
  if (!value.is_boolean()) wrong_type(value, at, "true or false");
  return value.get<bool>();
}

const std::string& as_string(const Json& value, const JsonPath& at) {
  if (!value.is_string()) wrong_type(value, at, "a string");
  return value.get_ref<const std::string&>();
}

void check_segment(double start, double end, double duration, const JsonPath& at) {
  if (end < start) {
    at.fail("end " + number_text(end) + " is before start " + number_text(start),
            "swap the times or drop the segment");
  }
  if (start < -kSegmentTolerance || end > duration + kSegmentTolerance) {
    at.fail("segment [" + number_text(start) + ", " + number_text(end) +
                "] lies outside the clip [0, " + number_text(duration) + "] by more than " +
                number_text(kSegmentTolerance) + " s",
            "times are seconds from the clip start; check the clip and the units");
  }
}

std::string number_text(double value) {
  // 17 significant digits always read back; try fewer first for readable messages.
  char buffer[40];
  for (int digits = 6; digits <= 17; ++digits) {
    std::snprintf(buffer, sizeof buffer, "%.*g", digits, value);
    if (std::strtod(buffer, nullptr) == value) break;
  }
  return buffer;
}

}  // namespace asl::data::json_reader
