// Logging: one JSON object per line on stderr (or text for people at a terminal). spdlog
// underneath; thread-safe. Never pass a secret in a message or a field.
#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace learnwire::core {

enum class LogLevel { kDebug, kInfo, kWarn, kError };

using LogFields = std::vector<std::pair<std::string, std::string>>;

// Sets the level and format ("json" or "text") of every log line, including spdlog's default
// logger used by modules that log a plain message.
void ConfigureLogging(LogLevel level, bool json);

// One line: {"time":…,"level":…,"msg":…, fields…}.
void Log(LogLevel level, std::string_view msg, const LogFields& fields = {});

// Escapes a string for inclusion inside JSON quotes.
std::string JsonEscape(std::string_view s);

}  // namespace learnwire::core
