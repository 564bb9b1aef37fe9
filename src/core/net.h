// IP addresses and CIDR blocks, for trusted proxies now and the webhook URL guard later.
// IPv4-mapped IPv6 addresses (::ffff:a.b.c.d) are treated as the IPv4 address they carry.
// Value types; thread-compatible.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace learnwire::core {

struct IpAddress {
  bool v6 = false;
  std::array<uint8_t, 16> bytes{};  // v4 uses the first 4

  std::string ToString() const;
};

// Parses "192.0.2.1", "2001:db8::1" (no brackets, no zone).
std::optional<IpAddress> ParseIp(std::string_view text);

struct Cidr {
  IpAddress base;
  int bits = 0;
};

// Parses "10.0.0.0/8", "fc00::/7", or a bare address (a block of one).
std::optional<Cidr> ParseCidr(std::string_view text);
bool Contains(const Cidr& block, const IpAddress& ip);
bool ContainsAny(const std::vector<Cidr>& blocks, const IpAddress& ip);

}  // namespace learnwire::core
