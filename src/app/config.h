// Config: every key of PRODUCT.md, validated. Sources, strongest first: command-line flags,
// LEARNWIRE_<KEY> environment variables, the TOML file. Plain value type.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "core/status.h"

namespace learnwire::app {

struct Config {
  std::string listen = "127.0.0.1:8080";
  std::string metrics_listen;
  std::string db = "sqlite:./data/learnwire.db";
  std::string role = "all";
  std::string sqlite_synchronous = "normal";
  std::vector<std::string> allowed_private_networks;
  bool allow_http_webhooks = false;
  int64_t attempt_timeout_s = 15;
  int64_t in_flight_per_subscription = 8;
  int64_t max_webhooks_per_org = 50;
  int64_t max_body_bytes = 1048576;
  int64_t rate_limit_per_key = 50;
  int64_t retention_days = 30;
  int64_t session_ttl_s = 28800;
  std::string secret_key_file;
  std::vector<std::string> trusted_proxies;
  std::string web_root;
  std::string log_level = "info";
  std::string log_format = "json";
};

// Every key's name, as in the TOML file (env: LEARNWIRE_ + upper case; flag: --key-with-dashes).
const std::vector<std::string>& ConfigKeys();

// `flags` maps key names to values given on the command line. A bad key or value fails with
// kInvalidArgument and a one-line message naming the key.
core::Result<Config> LoadConfig(const std::string& file,
                                const std::map<std::string, std::string>& flags,
                                const std::map<std::string, std::string>& env);

// The LEARNWIRE_* variables of this process, keyed by config key name.
std::map<std::string, std::string> ConfigEnvironment();

struct HostPort {
  std::string host;
  uint16_t port = 0;
};
core::Result<HostPort> ParseHostPort(const std::string& text);

// Splits "sqlite:PATH" / "postgres://…" and tells which.
struct DbUrl {
  enum class Kind { kSqlite, kPostgres } kind = Kind::kSqlite;
  std::string target;  // the SQLite path, or the whole PostgreSQL URL
};
core::Result<DbUrl> ParseDbUrl(const std::string& url);

// The URL with any password masked: what logs and messages may show.
std::string RedactedDbUrl(const std::string& url);

}  // namespace learnwire::app
