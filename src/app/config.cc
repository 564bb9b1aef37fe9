#include "app/config.h"

#include <arpa/inet.h>
#include <sys/stat.h>
#include <toml++/toml.h>

#include <cctype>
#include <charconv>
#include <cstdlib>
#include <functional>

#include "core/net.h"

extern char** environ;

namespace learnwire::app {
namespace {

using core::Result;
using core::Status;

Status Bad(const std::string& key, const std::string& why) {
  return core::InvalidArgument("config: " + key + ": " + why);
}

std::string Trim(std::string s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) {
    s.pop_back();
  }
  std::size_t i = 0;
  while (i < s.size() && std::isspace(static_cast<unsigned char>(s[i]))) {
    ++i;
  }
  return s.substr(i);
}

std::vector<std::string> SplitList(const std::string& s) {
  std::vector<std::string> out;
  std::size_t start = 0;
  while (start <= s.size()) {
    std::size_t comma = s.find(',', start);
    std::string item = Trim(s.substr(start, comma == std::string::npos ? comma : comma - start));
    if (!item.empty()) {
      out.push_back(item);
    }
    if (comma == std::string::npos) {
      break;
    }
    start = comma + 1;
  }
  return out;
}

bool ValidCidr(const std::string& cidr) { return core::ParseCidr(cidr).has_value(); }

// How one key is read and checked. Raw values arrive as text (flags, env) or as TOML nodes.
struct KeySpec {
  std::string name;
  std::function<Status(Config&, const std::string&)> from_text;
};

KeySpec StringKey(std::string name, std::string Config::*field,
                  std::vector<std::string> allowed = {}) {
  return {name, [name, field, allowed](Config& c, const std::string& v) -> Status {
            if (!allowed.empty() && std::find(allowed.begin(), allowed.end(), v) == allowed.end()) {
              std::string list;
              for (const auto& a : allowed) {
                list += (list.empty() ? "" : ", ") + a;
              }
              return Bad(name, "must be one of " + list + " (got \"" + v + "\")");
            }
            c.*field = v;
            return Status::Ok();
          }};
}

KeySpec IntKey(std::string name, int64_t Config::*field, int64_t lo, int64_t hi) {
  return {name, [name, field, lo, hi](Config& c, const std::string& v) -> Status {
            int64_t n = 0;
            auto [p, ec] = std::from_chars(v.data(), v.data() + v.size(), n);
            if (v.empty() || ec != std::errc() || p != v.data() + v.size() || n < lo || n > hi) {
              return Bad(name, "must be an integer from " + std::to_string(lo) + " to " +
                                   std::to_string(hi) + " (got \"" + v + "\")");
            }
            c.*field = n;
            return Status::Ok();
          }};
}

KeySpec BoolKey(std::string name, bool Config::*field) {
  return {name, [name, field](Config& c, const std::string& v) -> Status {
            if (v == "true" || v == "1") {
              c.*field = true;
            } else if (v == "false" || v == "0") {
              c.*field = false;
            } else {
              return Bad(name, "must be true or false (got \"" + v + "\")");
            }
            return Status::Ok();
          }};
}

KeySpec CidrListKey(std::string name, std::vector<std::string> Config::*field) {
  return {name, [name, field](Config& c, const std::string& v) -> Status {
            std::vector<std::string> items = SplitList(v);
            for (const auto& item : items) {
              if (!ValidCidr(item)) {
                return Bad(name, "\"" + item + "\" is not a CIDR block");
              }
            }
            c.*field = items;
            return Status::Ok();
          }};
}

KeySpec AddressKey(std::string name, std::string Config::*field, bool optional) {
  return {name, [name, field, optional](Config& c, const std::string& v) -> Status {
            if (!(optional && v.empty()) && !ParseHostPort(v).ok()) {
              return Bad(name,
                         "must be IP:PORT, e.g. 127.0.0.1:8080 or [::1]:8080 (got \"" + v + "\")");
            }
            c.*field = v;
            return Status::Ok();
          }};
}

const std::vector<KeySpec>& Specs() {
  static const std::vector<KeySpec> kSpecs = {
      AddressKey("listen", &Config::listen, false),
      AddressKey("metrics_listen", &Config::metrics_listen, true),
      {"db",
       [](Config& c, const std::string& v) -> Status {
         if (!ParseDbUrl(v).ok()) {
           return Bad("db",
                      "must be sqlite:PATH or postgres://… (got \"" + RedactedDbUrl(v) + "\")");
         }
         c.db = v;
         return Status::Ok();
       }},
      StringKey("role", &Config::role, {"all", "api", "worker"}),
      StringKey("sqlite_synchronous", &Config::sqlite_synchronous, {"normal", "full"}),
      CidrListKey("allowed_private_networks", &Config::allowed_private_networks),
      BoolKey("allow_http_webhooks", &Config::allow_http_webhooks),
      IntKey("attempt_timeout_s", &Config::attempt_timeout_s, 1, 120),
      IntKey("in_flight_per_subscription", &Config::in_flight_per_subscription, 1, 256),
      IntKey("max_webhooks_per_org", &Config::max_webhooks_per_org, 1, 10000),
      IntKey("max_body_bytes", &Config::max_body_bytes, 1024, 64 * 1024 * 1024),
      IntKey("rate_limit_per_key", &Config::rate_limit_per_key, 0, 100000),
      IntKey("retention_days", &Config::retention_days, 1, 3650),
      IntKey("session_ttl_s", &Config::session_ttl_s, 60, 30 * 86400),
      {"secret_key_file",
       [](Config& c, const std::string& v) -> Status {
         struct stat st {};
         if (!v.empty() && (::stat(v.c_str(), &st) != 0 || !S_ISREG(st.st_mode))) {
           return Bad("secret_key_file", "cannot read \"" + v + "\"");
         }
         if (!v.empty() && st.st_size != 32) {
           return Bad("secret_key_file",
                      "must hold exactly 32 bytes (has " + std::to_string(st.st_size) + ")");
         }
         c.secret_key_file = v;
         return Status::Ok();
       }},
      CidrListKey("trusted_proxies", &Config::trusted_proxies),
      StringKey("web_root", &Config::web_root),
      StringKey("log_level", &Config::log_level, {"debug", "info", "warn", "error"}),
      StringKey("log_format", &Config::log_format, {"json", "text"}),
  };
  return kSpecs;
}

const KeySpec* FindSpec(const std::string& name) {
  for (const auto& s : Specs()) {
    if (s.name == name) {
      return &s;
    }
  }
  return nullptr;
}

// TOML values become the same text a flag would carry; arrays become comma lists.
Result<std::string> TomlToText(const std::string& key, const toml::node& node) {
  if (auto s = node.value<std::string>(); s && node.is_string()) {
    return *s;
  }
  if (node.is_boolean()) {
    return std::string(*node.value<bool>() ? "true" : "false");
  }
  if (node.is_integer()) {
    return std::to_string(*node.value<int64_t>());
  }
  if (const toml::array* arr = node.as_array()) {
    std::string out;
    for (const auto& item : *arr) {
      if (!item.is_string()) {
        return Bad(key, "array items must be strings");
      }
      out += (out.empty() ? "" : ",") + *item.value<std::string>();
    }
    return out;
  }
  return Bad(key, "has an unsupported type");
}

}  // namespace

const std::vector<std::string>& ConfigKeys() {
  static const std::vector<std::string> kKeys = [] {
    std::vector<std::string> keys;
    for (const auto& s : Specs()) {
      keys.push_back(s.name);
    }
    return keys;
  }();
  return kKeys;
}

Result<HostPort> ParseHostPort(const std::string& text) {
  std::size_t colon = text.rfind(':');
  if (colon == std::string::npos || colon == 0) {
    return core::InvalidArgument("expected HOST:PORT");
  }
  std::string host = text.substr(0, colon);
  if (host.size() > 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  unsigned char addr[16];
  if (inet_pton(AF_INET, host.c_str(), addr) != 1 && inet_pton(AF_INET6, host.c_str(), addr) != 1) {
    return core::InvalidArgument("the host must be an IP address");
  }
  std::string port = text.substr(colon + 1);
  int n = -1;
  auto [p, ec] = std::from_chars(port.data(), port.data() + port.size(), n);
  if (port.empty() || ec != std::errc() || p != port.data() + port.size() || n < 0 || n > 65535) {
    return core::InvalidArgument("bad port");
  }
  return HostPort{host, static_cast<uint16_t>(n)};
}

std::string RedactedDbUrl(const std::string& url) {
  std::string out = url;
  // scheme://user:password@host → scheme://user:********@host
  const std::size_t scheme = out.find("://");
  if (scheme != std::string::npos) {
    const std::size_t from = scheme + 3;
    const std::size_t end = out.find_first_of("/?#", from);
    const std::size_t at = out.rfind('@', end == std::string::npos ? out.size() : end);
    if (at != std::string::npos && at > from) {
      const std::size_t colon = out.find(':', from);
      if (colon != std::string::npos && colon < at) {
        out.replace(colon + 1, at - colon - 1, "********");
      }
    }
  }
  // …?password=secret&… (libpq also takes it as a parameter)
  for (std::size_t p = out.find("password="); p != std::string::npos;
       p = out.find("password=", p + 1)) {
    const std::size_t value = p + 9;
    const std::size_t end = out.find('&', value);
    out.replace(value, (end == std::string::npos ? out.size() : end) - value, "********");
  }
  return out;
}

Result<DbUrl> ParseDbUrl(const std::string& url) {
  if (url.rfind("sqlite:", 0) == 0 && url.size() > 7) {
    return DbUrl{DbUrl::Kind::kSqlite, url.substr(7)};
  }
  if ((url.rfind("postgres://", 0) == 0 || url.rfind("postgresql://", 0) == 0)) {
    return DbUrl{DbUrl::Kind::kPostgres, url};
  }
  return core::InvalidArgument("unsupported database URL");
}

std::map<std::string, std::string> ConfigEnvironment() {
  std::map<std::string, std::string> out;
  for (char** e = environ; e && *e; ++e) {
    std::string entry(*e);
    if (entry.rfind("LEARNWIRE_", 0) != 0) {
      continue;
    }
    std::size_t eq = entry.find('=');
    std::string key = entry.substr(10, eq == std::string::npos ? eq : eq - 10);
    for (char& ch : key) {
      ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
    }
    out[key] = eq == std::string::npos ? "" : entry.substr(eq + 1);
  }
  return out;
}

Result<Config> LoadConfig(const std::string& file, const std::map<std::string, std::string>& flags,
                          const std::map<std::string, std::string>& env) {
  Config config;
  std::map<std::string, std::string> merged;
  if (!file.empty()) {
    // toml++ is built with exceptions here: the adapter boundary turns them into a Status.
    toml::table parsed;
    try {
      parsed = toml::parse_file(file);
    } catch (const toml::parse_error& e) {
      return core::InvalidArgument("config: " + file + ": " + std::string(e.description()));
    }
    for (const auto& [k, node] : parsed) {
      std::string key(k.str());
      if (!FindSpec(key)) {
        return Bad(key, "unknown key in " + file);
      }
      LW_ASSIGN_OR_RETURN(merged[key], TomlToText(key, node));
    }
  }
  for (const auto& [key, value] : env) {
    if (key == "config") {
      continue;  // LEARNWIRE_CONFIG names the file itself
    }
    if (!FindSpec(key)) {
      return Bad(key, "unknown key (from LEARNWIRE_ environment variable)");
    }
    merged[key] = value;
  }
  for (const auto& [key, value] : flags) {
    if (!FindSpec(key)) {
      return Bad(key, "unknown key");
    }
    merged[key] = value;
  }
  for (const auto& [key, value] : merged) {
    LW_RETURN_IF_ERROR(FindSpec(key)->from_text(config, value));
  }
  if (config.role != "all" && ParseDbUrl(config.db)->kind == DbUrl::Kind::kSqlite) {
    return Bad("role", "\"" + config.role + "\" needs PostgreSQL (db is SQLite)");
  }
  return config;
}

}  // namespace learnwire::app
