#include "app/config.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

namespace learnwire::app {
namespace {

TEST(ConfigTest, DefaultsHoldWithNoSource) {
  auto c = LoadConfig("", {}, {});
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->listen, "127.0.0.1:8080");
  EXPECT_EQ(c->db, "sqlite:./data/learnwire.db");
  EXPECT_EQ(c->rate_limit_per_key, 50);
}

TEST(ConfigTest, FlagsBeatEnvironmentBeatFile) {
  auto dir = std::filesystem::temp_directory_path() / "lw_config_test";
  std::filesystem::create_directories(dir);
  auto file = dir / "lw.toml";
  std::ofstream(file) << "listen = \"127.0.0.1:1111\"\nretention_days = 7\n"
                      << "trusted_proxies = [\"10.0.0.0/8\", \"::1\"]\n";
  auto c = LoadConfig(file.string(), {{"listen", "127.0.0.1:3333"}},
                      {{"listen", "127.0.0.1:2222"}, {"retention_days", "9"}});
  ASSERT_TRUE(c.ok()) << c.status().message();
  EXPECT_EQ(c->listen, "127.0.0.1:3333");
  EXPECT_EQ(c->retention_days, 9);
  EXPECT_EQ(c->trusted_proxies.size(), 2u);
}

TEST(ConfigTest, BadValuesNameTheirKey) {
  struct Case {
    const char* key;
    const char* value;
  } cases[] = {
      {"max_body_bytes", "12"},
      {"max_body_bytes", "abc"},
      {"rate_limit_per_key", "-1"},
      {"attempt_timeout_s", "121"},
      {"log_format", "xml"},
      {"listen", "nohost"},
      {"listen", "localhost:8080"},
      {"metrics_listen", "127.0.0.1:99999"},
      {"allowed_private_networks", "10.0.0.0/33"},
      {"allow_http_webhooks", "yes"},
      {"db", "mysql://x"},
      {"role", "api"},
  };
  for (const Case& c : cases) {
    auto r = LoadConfig("", {{c.key, c.value}}, {});
    ASSERT_FALSE(r.ok()) << c.key << "=" << c.value;
    EXPECT_NE(r.status().message().find(c.key), std::string::npos) << r.status().message();
  }
}

TEST(ConfigTest, ListenTakesIpv4AndBracketedIpv6) {
  EXPECT_TRUE(LoadConfig("", {{"listen", "0.0.0.0:80"}}, {}).ok());
  EXPECT_TRUE(LoadConfig("", {{"listen", "[::1]:8080"}}, {}).ok());
}

TEST(ConfigTest, DatabaseUrlsAreShownWithoutTheirPassword) {
  EXPECT_EQ(RedactedDbUrl("postgres://lw:s3cret@db.internal:5432/learnwire"),
            "postgres://lw:********@db.internal:5432/learnwire");
  EXPECT_EQ(RedactedDbUrl("postgresql://lw@db/learnwire?sslmode=require&password=s3cret"),
            "postgresql://lw@db/learnwire?sslmode=require&password=********");
  EXPECT_EQ(RedactedDbUrl("postgres://lw:p%40ss@db/x"), "postgres://lw:********@db/x");
  EXPECT_EQ(RedactedDbUrl("sqlite:./data/learnwire.db"), "sqlite:./data/learnwire.db");
  auto bad = LoadConfig("", {{"db", "postgress://lw:s3cret@db/x"}}, {});
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().message().find("s3cret"), std::string::npos) << bad.status().message();
}

TEST(ConfigTest, UnknownKeysAreRefused) {
  EXPECT_FALSE(LoadConfig("", {}, {{"no_such_key", "1"}}).ok());
  EXPECT_FALSE(LoadConfig("", {{"no_such_key", "1"}}, {}).ok());
}

TEST(ConfigTest, ListsAcceptCommaSeparatedStrings) {
  auto c = LoadConfig("", {}, {{"allowed_private_networks", "127.0.0.0/8, 192.168.0.0/16"}});
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->allowed_private_networks,
            (std::vector<std::string>{"127.0.0.0/8", "192.168.0.0/16"}));
}

}  // namespace
}  // namespace learnwire::app
