#include "core/net.h"

#include <gtest/gtest.h>

namespace learnwire::core {
namespace {

bool In(const char* block, const char* ip) { return Contains(*ParseCidr(block), *ParseIp(ip)); }

TEST(NetTest, ContainsIpv4AndIpv6Blocks) {
  struct Case {
    const char* block;
    const char* ip;
    bool in;
  } cases[] = {
      {"10.0.0.0/8", "10.255.1.2", true},
      {"10.0.0.0/8", "11.0.0.1", false},
      {"172.16.0.0/12", "172.31.255.255", true},
      {"172.16.0.0/12", "172.32.0.0", false},
      {"127.0.0.1", "127.0.0.1", true},
      {"127.0.0.1", "127.0.0.2", false},
      {"0.0.0.0/0", "8.8.8.8", true},
      {"fc00::/7", "fd12::1", true},
      {"fc00::/7", "fe80::1", false},
      {"::1", "::1", true},
      {"10.0.0.0/8", "::ffff:10.1.2.3", true},
      {"10.0.0.0/8", "fd00::1", false},
      {"192.168.0.0/16", "192.168.7.7", true},
      {"192.168.0.0/17", "192.168.128.1", false},
  };
  for (const Case& c : cases) {
    EXPECT_EQ(In(c.block, c.ip), c.in) << c.block << " " << c.ip;
  }
}

TEST(NetTest, RefusesMalformedBlocks) {
  for (const char* text :
       {"", "10.0.0.0/33", "fc00::/129", "10.0.0.0/", "10.0.0/8", "host", "10.0.0.0/8x", "[::1]"}) {
    EXPECT_FALSE(ParseCidr(text).has_value()) << text;
  }
}

TEST(NetTest, PrintsAddresses) {
  EXPECT_EQ(ParseIp("::ffff:10.0.0.1")->ToString(), "10.0.0.1");
  EXPECT_EQ(ParseIp("2001:db8::1")->ToString(), "2001:db8::1");
}

}  // namespace
}  // namespace learnwire::core
