// JSON reading with errors that say where: the file, the clip and the key path of the bad
// value ("clips.json: clip 9df4...: annotations[3].segment: end 12 is before start 15").
// Private to the clip-annotation reader and the converter. Tensor-free.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <utility>

#include <nlohmann/json.hpp>

namespace asl::data::json_reader {

// Keeps the order of keys as they are in the file.
using Json = nlohmann::ordered_json;

// A place in a JSON file, for error messages.
class JsonPath {
 public:
  explicit JsonPath(std::string file, std::string clip = "", std::string key = "")
      : file_(std::move(file)), clip_(std::move(clip)), key_(std::move(key)) {}

  JsonPath key(const std::string& name) const;  // "a" -> "a.name"
  JsonPath index(std::size_t i) const;          // "a" -> "a[i]"
  JsonPath in_clip(const std::string& clip_id) const;  // names the clip, restarts the key path

  const std::string& file() const { return file_; }
  // "file: clip ID: key.path" (parts that are empty are left out).
  std::string where() const;
  [[noreturn]] void fail(const std::string& problem, const std::string& fix = "") const;

 private:
  std::string file_, clip_, key_;
};

// Parses `text` (read from `file`). Malformed JSON fails with the line and column.
// `callback` is nlohmann's parser callback (it may drop parts that are not needed).
Json parse_json(const std::string& text, const std::string& file,
                const Json::parser_callback_t& callback = nullptr);

// The member `name` of `object` (which `at` names); fails when missing.
const Json& member(const Json& object, const char* name, const JsonPath& at);
// nullptr when missing.
const Json* optional_member(const Json& object, const char* name);

// Typed values; `at` names the value itself. Each fails naming the expected type.
const Json& as_object(const Json& value, const JsonPath& at);
const Json& as_array(const Json& value, const JsonPath& at);
double as_number(const Json& value, const JsonPath& at);
int64_t as_integer(const Json& value, const JsonPath& at);
bool as_bool(const Json& value, const JsonPath& at);
const std::string& as_string(const Json& value, const JsonPath& at);

// The segment rule shared by the reader and the converter: end >= start and the segment
// inside [-kSegmentTolerance, duration + kSegmentTolerance]. `at` names the segment.
void check_segment(double start, double end, double duration, const JsonPath& at);

// A number in error messages: shortest text that reads back the same.
std::string number_text(double value);

}  // namespace asl::data::json_reader
