// ParseWebhookUrl and CheckUrlAtSave of url_guard.h: the URL half of the guard.
#include <gtest/gtest.h>

#include "delivery/guard_testing.h"
#include "delivery/url_guard.h"

namespace learnwire::delivery {
namespace {

// A resolver stub answering from a table; a name not in it fails as a DNS error would.
struct StubResolver {
  std::vector<std::pair<std::string, std::vector<const char*>>> table;
  std::shared_ptr<int> calls = std::make_shared<int>(0);

  Resolver Get() const {
    return [table = table,
            calls = calls](const std::string& host) -> core::Result<std::vector<core::IpAddress>> {
      ++*calls;
      for (const auto& [name, ips] : table) {
        if (name == host) {
          std::vector<core::IpAddress> out;
          for (const char* ip : ips) {
            out.push_back(*core::ParseIp(ip));
          }
          return out;
        }
      }
      return core::Unavailable("no such host: " + host);
    };
  }
};

// The one "url" field error of `s`, or "" when it is ok.
std::string UrlMessage(const core::Status& s) {
  if (s.ok()) {
    return "";
  }
  EXPECT_EQ(s.code(), core::Code::kInvalidArgument);
  EXPECT_EQ(s.fields().size(), 1u);
  if (s.fields().empty()) {
    return "?";
  }
  EXPECT_EQ(s.fields()[0].field, "url");
  return s.fields()[0].message;
}

TEST(WebhookUrlTest, ParsesTheParts) {
  struct Case {
    const char* url;
    const char* scheme;
    const char* host;
    int port;
    const char* path_and_query;
    bool host_is_ip;
  } cases[] = {
      {"https://example.com", "https", "example.com", 443, "/", false},
      {"HTTPS://Example.COM:8443/a/B?x=1&y=%20", "https", "example.com", 8443, "/a/B?x=1&y=%20",
       false},
      {"HtTp://example.com/", "http", "example.com", 80, "/", false},
      {"https://example.com:/", "https", "example.com", 443, "/", false},
      {"https://example.com:00080/p", "https", "example.com", 80, "/p", false},
      {"https://example.com:65535?q", "https", "example.com", 65535, "/?q", false},
      {"https://hooks.example.com./in", "https", "hooks.example.com.", 443, "/in", false},
      {"https://my_host-1.example.com/", "https", "my_host-1.example.com", 443, "/", false},
      {"https://93.184.216.34/x", "https", "93.184.216.34", 443, "/x", true},
      {"https://[2001:DB8::1]:444/x", "https", "2001:db8::1", 444, "/x", true},
      {"http://[::ffff:10.0.0.1]/", "http", "::ffff:10.0.0.1", 80, "/", true},
  };
  for (const Case& c : cases) {
    core::Result<ParsedUrl> u = ParseWebhookUrl(c.url);
    ASSERT_TRUE(u.ok()) << c.url << ": " << UrlMessage(u.status());
    EXPECT_EQ(u->scheme, c.scheme) << c.url;
    EXPECT_EQ(u->host, c.host) << c.url;
    EXPECT_EQ(u->port, c.port) << c.url;
    EXPECT_EQ(u->path_and_query, c.path_and_query) << c.url;
    EXPECT_EQ(u->host_is_ip, c.host_is_ip) << c.url;
  }
}

TEST(WebhookUrlTest, RefusesWhatSection1Refuses) {
  for (const char* url : {
           "",
           "example.com",
           "//example.com/",
           "/hooks",
           "https:example.com",
           "https:///path",
           "https://",
           "ftp://example.com/",
           "file:///etc/passwd",
           "gopher://example.com:70/_x",
           "javascript:alert(1)",
           "ws://example.com/",
           "httpx://example.com/",
           "https://user:pass@example.com/",
           "https://user@example.com/",
           "https://@example.com/",
           "https://:@example.com/",
           "https://example.com/#frag",
           "https://example.com#",
           "https://example.com:0/",
           "https://example.com:65536/",
           "https://example.com:99999999999/",
           "https://example.com:8o/",
           "https://exa mple.com/",
           "https://example.com/a b",
           "https://[v1.fe]/",
           "https://[fe80::1%25eth0]/",
           "https://[::1/",
           "https://::1/",
           "https://127.1/",
           "https://0x7f000001/",
           "https://2130706433/",
           "https://0/",
           "https://1.2.3.4.5/",
           "https://010.0.0.1/",
           "https://example.123/",
           "https://example.0x1/",
           "https://exa%6dple.com/",
           "https://-bad.example.com/",
           "https://bad-.example.com/",
           "https://a..b/",
           "https://.example.com/",
           "https://exa!mple.com/",
           "https://exam~ple.com/",
           "https://ex\xc3\xa4mple.com/",
           "https://example.com/\n",
           "https://host;x/",
           "https://example.com:443@evil.com/",
           "https://0300.0250.0.1/",
           // Splits Boost.URL 1.81 gets wrong (boostorg/url#636, #680): refused.
           "https://host:80:81/",
           "https://[::1]x/",
           "https://[::1]:80x",
           "https://1.2.3.4:5.6/",
           "https://%5B::1%5D/",
           "https://example.com\\@evil.com/",
       }) {
    EXPECT_FALSE(ParseWebhookUrl(url).ok()) << url;
  }
}

TEST(WebhookUrlTest, LimitsTheLengthTo2048) {
  std::string base = "https://example.com/";
  std::string at_limit = base + std::string(kMaxUrlLength - base.size(), 'a');
  EXPECT_TRUE(ParseWebhookUrl(at_limit).ok());
  EXPECT_EQ(UrlMessage(ParseWebhookUrl(at_limit + "a").status()),
            "must be at most 2048 characters");
  std::string label(63, 'a');
  EXPECT_TRUE(ParseWebhookUrl("https://" + label + ".com/").ok());
  EXPECT_FALSE(ParseWebhookUrl("https://" + label + "a.com/").ok());
}

TEST(WebhookUrlTest, ErrorsAreOnTheUrlField) {
  EXPECT_EQ(UrlMessage(ParseWebhookUrl("https://u:p@example.com/").status()),
            "must not contain a user name or password (user:pass@); use basic_auth");
  EXPECT_EQ(UrlMessage(ParseWebhookUrl("ftp://example.com/").status()),
            "the scheme must be https (or http where allowed), not ftp");
  EXPECT_EQ(UrlMessage(ParseWebhookUrl("https://127.1/").status()),
            "the host must be a dotted-decimal IPv4 address or a name that does not end in a "
            "number");
}

TEST(WebhookUrlTest, SaveRefusesPrivateIpLiterals) {
  StubResolver dns;
  const std::pair<const char*, const char*> cases[] = {
      {"https://10.1.2.3/", "10.1.2.3 is in 10.0.0.0/8, a private network"},
      {"https://127.0.0.1:8080/", "127.0.0.1 is in 127.0.0.0/8, the loopback network"},
      {"https://169.254.169.254/latest/meta-data/",
       "169.254.169.254 is in 169.254.0.0/16, the link-local network"},
      {"https://[::1]/", "::1 is in ::1/128, the loopback address"},
      {"https://[::ffff:10.0.0.1]/", "::ffff:10.0.0.1 is in 10.0.0.0/8, a private network"},
      {"https://[::127.0.0.1]/", "::127.0.0.1 is in ::/96, deprecated IPv4-compatible addresses"},
      {"https://[64:ff9b::a00:1]/",
       "64:ff9b::a00:1 carries 10.0.0.1, which is in 10.0.0.0/8, a private network"},
      {"https://[2002:0a00:0001::]/",
       "2002:0a00:0001:: carries 10.0.0.1, which is in 10.0.0.0/8, a private network"},
      {"https://[fd00::1]/", "fd00::1 is in fc00::/7, a private network (unique local addresses)"},
      {"https://[fe80::1]/", "fe80::1 is in fe80::/10, the link-local network"},
  };
  for (const auto& [url, message] : cases) {
    EXPECT_EQ(UrlMessage(CheckUrlAtSave(url, {}, dns.Get())), message) << url;
  }
  EXPECT_EQ(*dns.calls, 0);  // IP literals are never resolved
}

TEST(WebhookUrlTest, SaveRefusesANameThatResolvesToAPrivateAddress) {
  StubResolver dns{{{"hooks.example.com", {"93.184.216.34", "10.0.0.5"}},
                    {"v6.example.com", {"2606:4700::1", "64:ff9b::c0a8:1"}}}};
  EXPECT_EQ(UrlMessage(CheckUrlAtSave("https://Hooks.Example.com/in", {}, dns.Get())),
            "hooks.example.com resolves to 10.0.0.5, which is in 10.0.0.0/8, a private network");
  EXPECT_EQ(UrlMessage(CheckUrlAtSave("https://v6.example.com/", {}, dns.Get())),
            "v6.example.com resolves to 64:ff9b::c0a8:1, which carries 192.168.0.1, which is in "
            "192.168.0.0/16, a private network");
}

TEST(WebhookUrlTest, SaveAcceptsPublicHostsAndUnresolvableNames) {
  StubResolver dns{
      {{"example.com", {"93.184.216.34", "2606:2800:220:1::1"}}, {"empty.example.com", {}}}};
  for (const char* url : {"https://example.com/hooks", "HTTPS://EXAMPLE.COM/", "https://8.8.8.8/",
                          "https://[2606:4700:4700::1111]:8443/", "https://nowhere.example.net/",
                          "https://empty.example.com/"}) {
    EXPECT_EQ(UrlMessage(CheckUrlAtSave(url, {}, dns.Get())), "") << url;
  }
}

TEST(WebhookUrlTest, SaveAcceptsAllowedPrivateNetworks) {
  StubResolver dns{{{"receiver.internal", {"10.20.0.7"}}}};
  GuardConfig config = Allowing({"10.0.0.0/8", "127.0.0.1/32"});
  for (const char* url : {"https://10.1.2.3/", "http://10.1.2.3:8080/", "http://127.0.0.1:9000/",
                          "http://receiver.internal/", "https://receiver.internal/"}) {
    EXPECT_EQ(UrlMessage(CheckUrlAtSave(url, config, dns.Get())), "") << url;
  }
  EXPECT_EQ(UrlMessage(CheckUrlAtSave("https://127.0.0.2/", config, dns.Get())),
            "127.0.0.2 is in 127.0.0.0/8, the loopback network");
}

TEST(WebhookUrlTest, PlainHttpNeedsAllowedNetworksOrTheSwitch) {
  constexpr const char* kHttpsOnly =
      "must use https://: http:// is allowed only for hosts inside allowed_private_networks";
  StubResolver dns{
      {{"example.com", {"93.184.216.34"}}, {"mixed.internal", {"10.0.0.1", "93.184.216.34"}}}};
  GuardConfig allowed = Allowing({"10.0.0.0/8"});
  EXPECT_EQ(UrlMessage(CheckUrlAtSave("http://example.com/", {}, dns.Get())), kHttpsOnly);
  EXPECT_EQ(UrlMessage(CheckUrlAtSave("HTTP://8.8.8.8/", {}, dns.Get())), kHttpsOnly);
  EXPECT_EQ(UrlMessage(CheckUrlAtSave("http://example.com/", allowed, dns.Get())), kHttpsOnly);
  // Every address must be inside; an unresolvable name proves nothing.
  EXPECT_EQ(UrlMessage(CheckUrlAtSave("http://mixed.internal/", allowed, dns.Get())), kHttpsOnly);
  EXPECT_EQ(UrlMessage(CheckUrlAtSave("http://nowhere.internal/", allowed, dns.Get())), kHttpsOnly);
  GuardConfig switched = Allowing({}, true);
  EXPECT_EQ(UrlMessage(CheckUrlAtSave("http://example.com/", switched, dns.Get())), "");
  EXPECT_EQ(UrlMessage(CheckUrlAtSave("http://nowhere.example.net/", switched, dns.Get())), "");
  // The switch opens plain http, not private networks.
  EXPECT_EQ(UrlMessage(CheckUrlAtSave("http://10.0.0.1/", switched, dns.Get())),
            "10.0.0.1 is in 10.0.0.0/8, a private network");
}

TEST(WebhookUrlTest, SaveReportsSyntaxErrorsBeforeResolving) {
  StubResolver dns;
  EXPECT_EQ(UrlMessage(CheckUrlAtSave("https://u@example.com/", {}, dns.Get())),
            "must not contain a user name or password (user:pass@); use basic_auth");
  EXPECT_EQ(UrlMessage(CheckUrlAtSave("gopher://example.com/", {}, dns.Get())),
            "the scheme must be https (or http where allowed), not gopher");
  EXPECT_EQ(*dns.calls, 0);
}

}  // namespace
}  // namespace learnwire::delivery
