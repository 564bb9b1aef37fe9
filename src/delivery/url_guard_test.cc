#include "delivery/url_guard.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/un.h>

#include "delivery/guard_testing.h"

namespace learnwire::delivery {
namespace {

core::IpAddress Ip(const char* text) {
  std::optional<core::IpAddress> ip = core::ParseIp(text);
  EXPECT_TRUE(ip.has_value()) << text;
  return ip.value_or(core::IpAddress{});
}

// An IPv4-mapped IPv6 address built by hand (ParseIp would unmap it).
core::IpAddress Mapped(uint8_t a, uint8_t b, uint8_t c, uint8_t d) {
  core::IpAddress ip;
  ip.v6 = true;
  ip.bytes = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, a, b, c, d};
  return ip;
}

struct Case {
  const char* ip;
  const char* block;  // "" when reachable
};

void ExpectBlocks(const std::vector<Case>& cases, const GuardConfig& config = {}) {
  for (const Case& c : cases) {
    EXPECT_EQ(BlockedRange(Ip(c.ip), config).value_or(""), c.block) << c.ip;
  }
}

TEST(UrlGuardTest, BlocksEveryIpv4RangeAtItsEdges) {
  ExpectBlocks({
      {"0.0.0.0", "0.0.0.0/8"},
      {"0.255.255.255", "0.0.0.0/8"},
      {"1.0.0.0", ""},
      {"9.255.255.255", ""},
      {"10.0.0.0", "10.0.0.0/8"},
      {"10.255.255.255", "10.0.0.0/8"},
      {"11.0.0.0", ""},
      {"100.63.255.255", ""},
      {"100.64.0.0", "100.64.0.0/10"},
      {"100.127.255.255", "100.64.0.0/10"},
      {"100.128.0.0", ""},
      {"126.255.255.255", ""},
      {"127.0.0.0", "127.0.0.0/8"},
      {"127.255.255.255", "127.0.0.0/8"},
      {"128.0.0.0", ""},
      {"169.253.255.255", ""},
      {"169.254.0.0", "169.254.0.0/16"},
      {"169.254.169.254", "169.254.0.0/16"},
      {"169.254.255.255", "169.254.0.0/16"},
      {"169.255.0.0", ""},
      {"172.15.255.255", ""},
      {"172.16.0.0", "172.16.0.0/12"},
      {"172.31.255.255", "172.16.0.0/12"},
      {"172.32.0.0", ""},
      {"191.255.255.255", ""},
      {"192.0.0.0", "192.0.0.0/24"},
      {"192.0.0.9", "192.0.0.0/24"},
      {"192.0.0.255", "192.0.0.0/24"},
      {"192.0.1.0", ""},
      {"192.0.1.255", ""},
      {"192.0.2.0", "192.0.2.0/24"},
      {"192.0.2.255", "192.0.2.0/24"},
      {"192.0.3.0", ""},
      {"192.167.255.255", ""},
      {"192.168.0.0", "192.168.0.0/16"},
      {"192.168.255.255", "192.168.0.0/16"},
      {"192.169.0.0", ""},
      {"198.17.255.255", ""},
      {"198.18.0.0", "198.18.0.0/15"},
      {"198.19.255.255", "198.18.0.0/15"},
      {"198.20.0.0", ""},
      {"198.51.99.255", ""},
      {"198.51.100.0", "198.51.100.0/24"},
      {"198.51.100.255", "198.51.100.0/24"},
      {"198.51.101.0", ""},
      {"203.0.112.255", ""},
      {"203.0.113.0", "203.0.113.0/24"},
      {"203.0.113.255", "203.0.113.0/24"},
      {"203.0.114.0", ""},
      {"223.255.255.255", ""},
      {"224.0.0.0", "224.0.0.0/4"},
      {"239.255.255.255", "224.0.0.0/4"},
      {"240.0.0.0", "240.0.0.0/4"},
      {"255.255.255.254", "240.0.0.0/4"},
      {"255.255.255.255", "255.255.255.255/32"},
      // Globally reachable special-purpose blocks and ordinary public addresses.
      {"192.31.196.1", ""},
      {"192.52.193.1", ""},
      {"192.88.99.1", ""},
      {"192.175.48.1", ""},
      {"8.8.8.8", ""},
      {"93.184.216.34", ""},
  });
}

TEST(UrlGuardTest, BlocksEveryIpv6RangeAtItsEdges) {
  ExpectBlocks({
      {"::", "::/128"},
      {"::1", "::1/128"},
      {"::2", "::/96"},
      {"::127.0.0.1", "::/96"},
      {"::8.8.8.8", "::/96"},
      {"::ffff:ffff", "::/96"},
      {"::1:0:0", "::/8"},
      {"::fffe:ffff:ffff", "::/8"},
      {"::ffff:0:0:0", "::/8"},  // IPv4-translated (RFC 2765), not mapped
      {"64:ff9b:1::", "64:ff9b:1::/48"},
      {"64:ff9b:1:ffff:ffff:ffff:ffff:ffff", "64:ff9b:1::/48"},
      {"64:ff9b:0:0:0:1::", "::/8"},  // just past 64:ff9b::/96
      {"64:ff9b:2::", "::/8"},
      {"100::", "100::/64"},
      {"100::ffff:ffff:ffff:ffff", "100::/64"},
      {"100:0:0:1::", "100:0:0:1::/64"},
      {"100:0:0:1:ffff:ffff:ffff:ffff", "100:0:0:1::/64"},
      {"100:0:0:2::", "100::/8"},
      {"1fff:ffff::", "1000::/4"},
      {"2000::", ""},
      {"2000:ffff::", ""},
      {"2001::", "2001::/23"},  // Teredo
      {"2001:0:4136:e378::1", "2001::/23"},
      {"2001:1::", "2001::/23"},
      {"2001:1::1", ""},
      {"2001:1::2", ""},
      {"2001:1::3", ""},
      {"2001:1::4", "2001::/23"},
      {"2001:2::", "2001::/23"},
      {"2001:2:0:ffff::", "2001::/23"},
      {"2001:3::", ""},
      {"2001:3:ffff:ffff::", ""},
      {"2001:4:112::", ""},
      {"2001:4:112:ffff::", ""},
      {"2001:4:113::", "2001::/23"},
      {"2001:10::", "2001::/23"},
      {"2001:1f:ffff::", "2001::/23"},
      {"2001:20::", ""},
      {"2001:2f:ffff::", ""},
      {"2001:30::", ""},
      {"2001:3f:ffff::", ""},
      {"2001:40::", "2001::/23"},
      {"2001:1ff:ffff:ffff::", "2001::/23"},
      {"2001:200::", ""},
      {"2001:db7:ffff:ffff::", ""},
      {"2001:db8::", "2001:db8::/32"},
      {"2001:db8:ffff:ffff:ffff:ffff:ffff:ffff", "2001:db8::/32"},
      {"2001:db9::", ""},
      {"2606:4700:4700::1111", ""},
      {"2a00:1450:4001::", ""},
      {"3ffe:ffff::", ""},
      {"3fff::", "3fff::/20"},
      {"3fff:fff:ffff::", "3fff::/20"},
      {"3fff:1000::", ""},
      {"4000::", "4000::/3"},
      {"5eff:ffff::", "4000::/3"},
      {"5f00::", "5f00::/16"},
      {"5f00:ffff::", "5f00::/16"},
      {"5f01::", "4000::/3"},
      {"fbff:ffff::", "f800::/6"},
      {"fc00::", "fc00::/7"},
      {"fdff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", "fc00::/7"},
      {"fe00::", "fe00::/9"},
      {"fe7f:ffff::", "fe00::/9"},
      {"fe80::", "fe80::/10"},
      {"febf:ffff::", "fe80::/10"},
      {"fec0::", "fec0::/10"},
      {"feff:ffff::", "fec0::/10"},
      {"ff00::", "ff00::/8"},
      {"ff02::1", "ff00::/8"},
      {"ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", "ff00::/8"},
  });
}

TEST(UrlGuardTest, JudgesEmbeddedIpv4ByTheAddressInside) {
  ExpectBlocks({
      {"::ffff:10.0.0.1", "10.0.0.0/8"},
      {"::ffff:127.0.0.1", "127.0.0.0/8"},
      {"::ffff:169.254.169.254", "169.254.0.0/16"},
      {"::ffff:8.8.8.8", ""},
      {"64:ff9b::a00:1", "10.0.0.0/8"},
      {"64:ff9b::127.0.0.1", "127.0.0.0/8"},
      {"64:ff9b::c0a8:101", "192.168.0.0/16"},
      {"64:ff9b::808:808", ""},
      {"2002:a00:1::", "10.0.0.0/8"},
      {"2002:0a00:0001:ffff::1", "10.0.0.0/8"},
      {"2002:7f00:1::", "127.0.0.0/8"},
      {"2002:a9fe:a9fe::", "169.254.0.0/16"},
      {"2002:808:808::", ""},
  });
  // A mapped address that reaches the guard without ParseIp (from a socket, say).
  EXPECT_EQ(BlockedRange(Mapped(10, 0, 0, 1), {}), "10.0.0.0/8");
  EXPECT_EQ(BlockedRange(Mapped(8, 8, 8, 8), {}), std::nullopt);
}

TEST(UrlGuardTest, AllowedPrivateNetworksOpenExceptions) {
  GuardConfig config = Allowing({"10.0.0.0/8", "fd00::/8", "127.0.0.1/32"});
  ExpectBlocks(
      {
          {"10.1.2.3", ""},
          {"::ffff:10.1.2.3", ""},
          {"64:ff9b::a01:203", ""},
          {"2002:a01:203::", ""},
          {"fd12::1", ""},
          {"127.0.0.1", ""},
          {"127.0.0.2", "127.0.0.0/8"},
          {"11.0.0.0", ""},
          {"172.16.0.1", "172.16.0.0/12"},
          {"fc00::1", "fc00::/7"},
          {"64:ff9b::ac10:1", "172.16.0.0/12"},
      },
      config);
  EXPECT_EQ(BlockedRange(Mapped(10, 9, 9, 9), config), std::nullopt);
}

TEST(UrlGuardTest, MessagesNameTheAddressAndTheBlock) {
  EXPECT_EQ(BlockedMessage(Ip("10.1.2.3"), {}), "10.1.2.3 is in 10.0.0.0/8, a private network");
  EXPECT_EQ(BlockedMessage(Ip("::1"), {}), "::1 is in ::1/128, the loopback address");
  EXPECT_EQ(BlockedMessage(Ip("64:ff9b::a00:1"), {}),
            "64:ff9b::a00:1 carries 10.0.0.1, which is in 10.0.0.0/8, a private network");
  EXPECT_EQ(BlockedMessage(Ip("8.8.8.8"), {}), std::nullopt);
  std::optional<BlockedBy> found = FindBlockedRange(Ip("2002:7f00:1::"), {});
  ASSERT_TRUE(found.has_value());
  EXPECT_EQ(found->block, "127.0.0.0/8");
  ASSERT_TRUE(found->embedded.has_value());
  EXPECT_EQ(found->embedded->ToString(), "127.0.0.1");
}

TEST(UrlGuardTest, PlainHttpOnlyInsideAllowedNetworksOrWhenEnabled) {
  EXPECT_FALSE(PlainHttpAllowed(Ip("93.184.216.34"), {}));
  EXPECT_TRUE(PlainHttpAllowed(Ip("93.184.216.34"), Allowing({}, true)));
  EXPECT_TRUE(PlainHttpAllowed(Ip("10.0.0.1"), Allowing({"10.0.0.0/8"})));
  EXPECT_FALSE(PlainHttpAllowed(Ip("11.0.0.1"), Allowing({"10.0.0.0/8"})));
}

TEST(UrlGuardTest, ReadsSocketAddresses) {
  sockaddr_in in{};
  in.sin_family = AF_INET;
  inet_pton(AF_INET, "10.0.0.1", &in.sin_addr);
  EXPECT_EQ(FromSockaddr(reinterpret_cast<sockaddr*>(&in))->ToString(), "10.0.0.1");

  sockaddr_in6 in6{};
  in6.sin6_family = AF_INET6;
  inet_pton(AF_INET6, "::ffff:127.0.0.1", &in6.sin6_addr);
  std::optional<core::IpAddress> mapped = FromSockaddr(reinterpret_cast<sockaddr*>(&in6));
  ASSERT_TRUE(mapped.has_value());
  EXPECT_FALSE(mapped->v6);
  EXPECT_EQ(mapped->ToString(), "127.0.0.1");

  inet_pton(AF_INET6, "2001:db8::1", &in6.sin6_addr);
  std::optional<core::IpAddress> v6 = FromSockaddr(reinterpret_cast<sockaddr*>(&in6));
  ASSERT_TRUE(v6.has_value());
  EXPECT_TRUE(v6->v6);
  EXPECT_EQ(v6->ToString(), "2001:db8::1");

  sockaddr_un un{};
  un.sun_family = AF_UNIX;
  EXPECT_EQ(FromSockaddr(reinterpret_cast<sockaddr*>(&un)), std::nullopt);
  EXPECT_EQ(FromSockaddr(nullptr), std::nullopt);
}

TEST(UrlGuardTest, SystemResolverReadsNumericHostsWithoutDns) {
  core::Result<std::vector<core::IpAddress>> v4 = SystemResolver()("127.0.0.1");
  ASSERT_TRUE(v4.ok());
  ASSERT_EQ(v4->size(), 1u);
  EXPECT_EQ((*v4)[0].ToString(), "127.0.0.1");
}

}  // namespace
}  // namespace learnwire::delivery
