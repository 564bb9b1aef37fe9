// Writing JSON text directly into a string: the fast path for rendering lists, where building a
// document object per item would cost an allocation per field. The output is always valid JSON:
// strings are escaped (control characters, quote, backslash), UTF-8 passes through.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace learnwire::core {

// `s` with every byte sequence that is not valid UTF-8 replaced by U+FFFD.
std::string ValidUtf8(std::string_view s);

// Appends `s` escaped for the inside of a JSON string (no quotes).
void AppendJsonEscaped(std::string& out, std::string_view s);
// Appends `"s"` with JSON escaping.
void AppendJsonString(std::string& out, std::string_view s);

// Builds one JSON object: Field("id").String(x) … Close(). Keys are written verbatim (they are
// our own identifiers). Not thread-safe; one writer per string.
class JsonObjectWriter {
 public:
  explicit JsonObjectWriter(std::string& out) : out_(out) { out_.push_back('{'); }
  JsonObjectWriter& String(std::string_view key, std::string_view value);
  JsonObjectWriter& OptString(std::string_view key, const std::optional<std::string>& value);
  JsonObjectWriter& OptString(std::string_view key, const std::optional<std::string_view>& value);
  JsonObjectWriter& Time(std::string_view key, int64_t unix_ms);
  JsonObjectWriter& OptTime(std::string_view key, const std::optional<int64_t>& unix_ms);
  JsonObjectWriter& Int(std::string_view key, int64_t value);
  // `json` must already be valid JSON text (a stored document, a nested writer's output).
  JsonObjectWriter& Raw(std::string_view key, std::string_view json);
  void Close() { out_.push_back('}'); }

 private:
  void Key(std::string_view key);
  std::string& out_;
  bool first_ = true;
};

}  // namespace learnwire::core
