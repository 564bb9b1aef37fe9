#include "core/log.h"

#include <spdlog/pattern_formatter.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include <atomic>
#include <memory>

#include "core/json_text.h"

namespace learnwire::core {
namespace {

std::atomic<bool> g_json{true};

// %* in a pattern: the message, escaped for a JSON string.
class JsonMessageFlag final : public spdlog::custom_flag_formatter {
 public:
  void format(const spdlog::details::log_msg& msg, const std::tm&,
              spdlog::memory_buf_t& dest) override {
    std::string escaped = JsonEscape(std::string_view(msg.payload.data(), msg.payload.size()));
    dest.append(escaped.data(), escaped.data() + escaped.size());
  }
  std::unique_ptr<custom_flag_formatter> clone() const override {
    return std::make_unique<JsonMessageFlag>();
  }
};

spdlog::level::level_enum ToSpd(LogLevel l) {
  switch (l) {
    case LogLevel::kDebug:
      return spdlog::level::debug;
    case LogLevel::kInfo:
      return spdlog::level::info;
    case LogLevel::kWarn:
      return spdlog::level::warn;
    case LogLevel::kError:
      return spdlog::level::err;
  }
  return spdlog::level::info;
}

// The structured logger writes pre-built lines (pattern %v) to the same stderr sink.
std::shared_ptr<spdlog::logger>& Structured() {
  static std::shared_ptr<spdlog::logger> logger = [] {
    auto l = std::make_shared<spdlog::logger>("structured",
                                              std::make_shared<spdlog::sinks::stderr_sink_mt>());
    l->set_pattern("%v");
    return l;
  }();
  return logger;
}

}  // namespace

std::string JsonEscape(std::string_view s) {
  std::string out;
  AppendJsonEscaped(out, s);
  return out;
}

void ConfigureLogging(LogLevel level, bool json) {
  g_json = json;
  auto fmt = std::make_unique<spdlog::pattern_formatter>(spdlog::pattern_time_type::utc);
  fmt->add_flag<JsonMessageFlag>('*');
  if (json) {
    fmt->set_pattern(R"({"time":"%Y-%m-%dT%H:%M:%S.%eZ","level":"%l","msg":"%*"})");
  } else {
    fmt->set_pattern("%Y-%m-%dT%H:%M:%S.%eZ %l %v");
  }
  auto def = std::make_shared<spdlog::logger>("learnwire",
                                              std::make_shared<spdlog::sinks::stderr_sink_mt>());
  def->set_formatter(std::move(fmt));
  def->set_level(ToSpd(level));
  spdlog::set_default_logger(def);
  Structured()->set_level(ToSpd(level));
}

void Log(LogLevel level, std::string_view msg, const LogFields& fields) {
  auto& logger = Structured();
  if (!logger->should_log(ToSpd(level))) {
    return;
  }
  static constexpr const char* kNames[] = {"debug", "info", "warn", "error"};
  const char* name = kNames[static_cast<int>(level)];
  std::string line;
  auto now = std::chrono::system_clock::now();
  int64_t ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count();
  std::time_t secs = static_cast<std::time_t>(ms / 1000);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char ts[96];
  std::snprintf(ts, sizeof ts, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
                tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                static_cast<int>(ms % 1000));
  if (g_json) {
    line = std::string(R"({"time":")") + ts + R"(","level":")" + name + R"(","msg":")" +
           JsonEscape(msg) + "\"";
    for (const auto& [k, v] : fields) {
      line += ",\"" + JsonEscape(k) + "\":\"" + JsonEscape(v) + "\"";
    }
    line += "}";
  } else {
    line = std::string(ts) + " " + name + " " + std::string(msg);
    for (const auto& [k, v] : fields) {
      line += " " + k + "=" + v;
    }
  }
  logger->log(ToSpd(level), "{}", line);
}

}  // namespace learnwire::core
