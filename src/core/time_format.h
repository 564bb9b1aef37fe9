// RFC 3339 times as the API speaks them: output UTC with exactly three fractional digits
// ("2026-11-22T10:00:00.123Z"); input with any offset and 0-9 fractional digits.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace learnwire::core {

std::string FormatTime(int64_t unix_ms);
// The same, appended to `out` (no temporary string: the rendering hot path).
void AppendTime(std::string& out, int64_t unix_ms);

// Parses RFC 3339 (date-time). Sub-millisecond digits are truncated toward the earlier instant.
std::optional<int64_t> ParseTime(std::string_view text);

}  // namespace learnwire::core
