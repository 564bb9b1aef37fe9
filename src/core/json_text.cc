#include "core/json_text.h"

#include "core/time_format.h"

namespace learnwire::core {

namespace {

// Length of the valid UTF-8 sequence at s[i] (RFC 3629: no overlongs, no surrogates, at most
// U+10FFFF), or 0.
std::size_t Utf8SequenceLength(std::string_view s, std::size_t i) {
  auto byte = [&](std::size_t k) { return static_cast<unsigned char>(s[k]); };
  unsigned char c = byte(i);
  if (c < 0x80) {
    return 1;
  }
  std::size_t n = c >= 0xC2 && c <= 0xDF   ? 2
                  : c >= 0xE0 && c <= 0xEF ? 3
                  : c >= 0xF0 && c <= 0xF4 ? 4
                                           : 0;
  if (n == 0 || i + n > s.size()) {
    return 0;
  }
  for (std::size_t k = 1; k < n; ++k) {
    if ((byte(i + k) & 0xC0) != 0x80) {
      return 0;
    }
  }
  unsigned char d = byte(i + 1);
  if ((c == 0xE0 && d < 0xA0) || (c == 0xED && d > 0x9F) || (c == 0xF0 && d < 0x90) ||
      (c == 0xF4 && d > 0x8F)) {
    return 0;
  }
  return n;
}

}  // namespace

std::string ValidUtf8(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (std::size_t i = 0; i < s.size();) {
    std::size_t n = Utf8SequenceLength(s, i);
    if (n == 0) {
      out += "\xEF\xBF\xBD";
      ++i;
    } else {
      out.append(s.substr(i, n));
      i += n;
    }
  }
  return out;
}

void AppendJsonString(std::string& out, std::string_view s) {
  out.push_back('"');
  AppendJsonEscaped(out, s);
  out.push_back('"');
}

void AppendJsonEscaped(std::string& out, std::string_view s) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::size_t run = 0;  // start of the pending run of bytes that need no escaping
  for (std::size_t i = 0; i < s.size(); ++i) {
    unsigned char c = static_cast<unsigned char>(s[i]);
    if (c >= 0x20 && c != '"' && c != '\\' && c != 0x7f) {
      continue;
    }
    out.append(s.data() + run, i - run);
    run = i + 1;
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      default:
        out += "\\u00";
        out.push_back(kHex[c >> 4]);
        out.push_back(kHex[c & 15]);
    }
  }
  out.append(s.data() + run, s.size() - run);
}

void JsonObjectWriter::Key(std::string_view key) {
  // One append of `,"key":` (keys are our own short identifiers).
  char buf[64];
  std::size_t n = 0;
  if (!first_) {
    buf[n++] = ',';
  }
  first_ = false;
  if (key.size() + 4 > sizeof buf) {
    out_.append(buf, n);
    out_.push_back('"');
    out_.append(key);
    out_ += "\":";
    return;
  }
  buf[n++] = '"';
  key.copy(buf + n, key.size());
  n += key.size();
  buf[n++] = '"';
  buf[n++] = ':';
  out_.append(buf, n);
}

JsonObjectWriter& JsonObjectWriter::String(std::string_view key, std::string_view value) {
  Key(key);
  AppendJsonString(out_, value);
  return *this;
}

JsonObjectWriter& JsonObjectWriter::OptString(std::string_view key,
                                              const std::optional<std::string>& value) {
  if (!value) {
    return Raw(key, "null");
  }
  return String(key, *value);
}

JsonObjectWriter& JsonObjectWriter::OptString(std::string_view key,
                                              const std::optional<std::string_view>& value) {
  if (!value) {
    return Raw(key, "null");
  }
  return String(key, *value);
}

JsonObjectWriter& JsonObjectWriter::Time(std::string_view key, int64_t unix_ms) {
  Key(key);
  out_.push_back('"');
  AppendTime(out_, unix_ms);
  out_.push_back('"');
  return *this;
}

JsonObjectWriter& JsonObjectWriter::OptTime(std::string_view key,
                                            const std::optional<int64_t>& unix_ms) {
  if (!unix_ms) {
    return Raw(key, "null");
  }
  return Time(key, *unix_ms);
}

JsonObjectWriter& JsonObjectWriter::Int(std::string_view key, int64_t value) {
  Key(key);
  out_ += std::to_string(value);
  return *this;
}

JsonObjectWriter& JsonObjectWriter::Raw(std::string_view key, std::string_view json) {
  Key(key);
  out_.append(json);
  return *this;
}

}  // namespace learnwire::core
