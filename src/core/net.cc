#include "core/net.h"

#include <arpa/inet.h>

#include <charconv>

namespace learnwire::core {
namespace {

// ::ffff:a.b.c.d → a.b.c.d
IpAddress Unmap(IpAddress ip) {
  static constexpr uint8_t kMapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
  if (ip.v6 && std::equal(kMapped, kMapped + 12, ip.bytes.begin())) {
    IpAddress v4;
    std::copy(ip.bytes.begin() + 12, ip.bytes.end(), v4.bytes.begin());
    return v4;
  }
  return ip;
}

}  // namespace

std::string IpAddress::ToString() const {
  char buf[INET6_ADDRSTRLEN] = {};
  inet_ntop(v6 ? AF_INET6 : AF_INET, bytes.data(), buf, sizeof buf);
  return buf;
}

std::optional<IpAddress> ParseIp(std::string_view text) {
  std::string s(text);
  IpAddress ip;
  if (inet_pton(AF_INET, s.c_str(), ip.bytes.data()) == 1) {
    return ip;
  }
  if (inet_pton(AF_INET6, s.c_str(), ip.bytes.data()) == 1) {
    ip.v6 = true;
    return Unmap(ip);
  }
  return std::nullopt;
}

std::optional<Cidr> ParseCidr(std::string_view text) {
  std::size_t slash = text.find('/');
  auto ip = ParseIp(text.substr(0, slash));
  if (!ip) {
    return std::nullopt;
  }
  int max_bits = ip->v6 ? 128 : 32;
  int bits = max_bits;
  if (slash != std::string_view::npos) {
    std::string_view b = text.substr(slash + 1);
    auto [p, ec] = std::from_chars(b.data(), b.data() + b.size(), bits);
    if (b.empty() || ec != std::errc() || p != b.data() + b.size() || bits < 0 || bits > max_bits) {
      return std::nullopt;
    }
  }
  return Cidr{*ip, bits};
}

bool Contains(const Cidr& block, const IpAddress& raw) {
  IpAddress ip = Unmap(raw);
  if (ip.v6 != block.base.v6) {
    return false;
  }
  int full = block.bits / 8;
  int rest = block.bits % 8;
  for (int i = 0; i < full; ++i) {
    if (ip.bytes[i] != block.base.bytes[i]) {
      return false;
    }
  }
  if (rest == 0) {
    return true;
  }
  uint8_t mask = static_cast<uint8_t>(0xff << (8 - rest));
  return (ip.bytes[full] & mask) == (block.base.bytes[full] & mask);
}

bool ContainsAny(const std::vector<Cidr>& blocks, const IpAddress& ip) {
  for (const Cidr& b : blocks) {
    if (Contains(b, ip)) {
      return true;
    }
  }
  return false;
}

}  // namespace learnwire::core
