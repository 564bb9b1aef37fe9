#include "delivery/url_guard.h"

#include <netdb.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <algorithm>
#include <boost/url/parse.hpp>
#include <cstring>
#include <memory>

namespace learnwire::delivery {
namespace {

struct Entry {
  const char* block;
  const char* purpose;
};

// IANA IPv4 Special-Purpose Address Registry entries that are not globally reachable, with
// multicast (224/4, its own registry) added as §7 asks. More specific blocks come first.
constexpr Entry kV4Blocks[] = {
    {"0.0.0.0/8", "the \"this network\" block"},
    {"10.0.0.0/8", "a private network"},
    {"100.64.0.0/10", "shared address space (carrier-grade NAT)"},
    {"127.0.0.0/8", "the loopback network"},
    {"169.254.0.0/16", "the link-local network"},
    {"172.16.0.0/12", "a private network"},
    {"192.0.0.0/24", "reserved for IETF protocol assignments"},
    {"192.0.2.0/24", "reserved for documentation (TEST-NET-1)"},
    {"192.168.0.0/16", "a private network"},
    {"198.18.0.0/15", "reserved for benchmarking"},
    {"198.51.100.0/24", "reserved for documentation (TEST-NET-2)"},
    {"203.0.113.0/24", "reserved for documentation (TEST-NET-3)"},
    {"224.0.0.0/4", "a multicast block"},
    {"255.255.255.255/32", "the limited broadcast address"},
    {"240.0.0.0/4", "reserved for future use"},
};

// Globally reachable sub-blocks of 2001::/23 (IANA IPv6 Special-Purpose Address Registry).
constexpr const char* kV6Reachable[] = {
    "2001:1::1/128",   "2001:1::2/128", "2001:1::3/128", "2001:3::/32",
    "2001:4:112::/48", "2001:20::/28",  "2001:30::/28",
};

// IANA IPv6 Special-Purpose Address Registry entries that are not globally reachable, §7's
// site-local and multicast blocks, then the IETF-reserved remainder of the address space outside
// 2000::/3 (IPv6 Address Space registry). More specific blocks come first; the embedding blocks
// (::ffff:0:0/96, 64:ff9b::/96, 2002::/16) are handled before this table is read.
constexpr Entry kV6Blocks[] = {
    {"::/128", "the unspecified address"},
    {"::1/128", "the loopback address"},
    {"::/96", "deprecated IPv4-compatible addresses"},
    {"64:ff9b:1::/48", "local-use IPv4/IPv6 translation"},
    {"100::/64", "discard-only addresses"},
    {"100:0:0:1::/64", "the dummy IPv6 prefix"},
    {"2001::/23", "reserved for IETF protocol assignments"},
    {"2001:db8::/32", "reserved for documentation"},
    {"3fff::/20", "reserved for documentation"},
    {"5f00::/16", "segment routing (SRv6) SIDs"},
    {"fc00::/7", "a private network (unique local addresses)"},
    {"fe80::/10", "the link-local network"},
    {"fec0::/10", "deprecated site-local addresses"},
    {"ff00::/8", "a multicast block"},
    {"::/8", "reserved by the IETF"},
    {"100::/8", "reserved by the IETF"},
    {"200::/7", "reserved by the IETF"},
    {"400::/6", "reserved by the IETF"},
    {"800::/5", "reserved by the IETF"},
    {"1000::/4", "reserved by the IETF"},
    {"4000::/3", "reserved by the IETF"},
    {"6000::/3", "reserved by the IETF"},
    {"8000::/3", "reserved by the IETF"},
    {"a000::/3", "reserved by the IETF"},
    {"c000::/3", "reserved by the IETF"},
    {"e000::/4", "reserved by the IETF"},
    {"f000::/5", "reserved by the IETF"},
    {"f800::/6", "reserved by the IETF"},
    {"fe00::/9", "reserved by the IETF"},
};

struct Block {
  core::Cidr cidr;
  const char* block;
  const char* purpose;
};

// The tables parsed once (they are constant and valid; ParseCidr cannot fail on them).
template <std::size_t N>
std::vector<Block> ParseTable(const Entry (&entries)[N]) {
  std::vector<Block> out;
  for (const Entry& e : entries) {
    out.push_back({*core::ParseCidr(e.block), e.block, e.purpose});
  }
  return out;
}

const std::vector<Block>& V4Blocks() {
  static const std::vector<Block> blocks = ParseTable(kV4Blocks);
  return blocks;
}

const std::vector<Block>& V6Blocks() {
  static const std::vector<Block> blocks = ParseTable(kV6Blocks);
  return blocks;
}

const std::vector<core::Cidr>& V6Reachable() {
  static const std::vector<core::Cidr> blocks = [] {
    std::vector<core::Cidr> out;
    for (const char* b : kV6Reachable) {
      out.push_back(*core::ParseCidr(b));
    }
    return out;
  }();
  return blocks;
}

// The embedding prefixes NAT64 well-known and 6to4.
const core::Cidr kNat64{{true, {0, 0x64, 0xff, 0x9b}}, 96};
const core::Cidr k6to4{{true, {0x20, 0x02}}, 16};

// ::ffff:0:0/96, compared by hand: core::Contains unmaps its argument first.
bool IsMapped(const core::IpAddress& ip) {
  static constexpr uint8_t kPrefix[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
  return ip.v6 && std::equal(kPrefix, kPrefix + 12, ip.bytes.begin());
}

core::IpAddress V4(const uint8_t* b) {
  core::IpAddress v4;
  std::copy(b, b + 4, v4.bytes.begin());
  return v4;
}

std::optional<BlockedBy> FindV4(const core::IpAddress& ip) {
  for (const Block& b : V4Blocks()) {
    if (core::Contains(b.cidr, ip)) {
      return BlockedBy{b.block, b.purpose, std::nullopt};
    }
  }
  return std::nullopt;
}

// A 6to4 or NAT64 address is as reachable as the IPv4 address it carries.
std::optional<BlockedBy> FindEmbedded(const core::IpAddress& v4, const GuardConfig& config) {
  if (core::ContainsAny(config.allowed_private_networks, v4)) {
    return std::nullopt;
  }
  std::optional<BlockedBy> found = FindV4(v4);
  if (found) {
    found->embedded = v4;
  }
  return found;
}

bool IsDigit(char c) { return c >= '0' && c <= '9'; }
bool IsHex(char c) { return IsDigit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'); }
char Lower(char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c + 32) : c; }

core::Status UrlError(std::string message) {
  return core::Status::Invalid("url", std::move(message));
}

// What getaddrinfo would read as an IPv4 number: all digits, or "0x" and hex digits.
bool IsNumericLabel(std::string_view label) {
  if (label.size() >= 2 && label[0] == '0' && (label[1] == 'x' || label[1] == 'X')) {
    return std::all_of(label.begin() + 2, label.end(), IsHex);
  }
  return !label.empty() && std::all_of(label.begin(), label.end(), IsDigit);
}

// Checks a reg-name host as a DNS name; returns an error message or "".
std::string CheckHostName(std::string_view host) {
  static constexpr const char* kNotDns =
      "the host must be a DNS name (letters, digits, '-', '_' and dots), an IPv4 address or a "
      "bracketed IPv6 address";
  if (!host.empty() && host.back() == '.') {
    host.remove_suffix(1);
  }
  if (host.empty() || host.size() > 253) {
    return kNotDns;
  }
  std::string_view last;
  std::size_t start = 0;
  while (start <= host.size()) {
    std::size_t dot = std::min(host.find('.', start), host.size());
    std::string_view label = host.substr(start, dot - start);
    if (label.empty() || label.size() > 63 || label.front() == '-' || label.back() == '-') {
      return kNotDns;
    }
    for (char c : label) {
      if (!(IsDigit(c) || (Lower(c) >= 'a' && Lower(c) <= 'z') || c == '-' || c == '_')) {
        return kNotDns;
      }
    }
    last = label;
    start = dot + 1;
  }
  if (IsNumericLabel(last)) {
    return "the host must be a dotted-decimal IPv4 address or a name that does not end in a "
           "number";
  }
  return "";
}

// "<lead> is in 10.0.0.0/8, a private network", or "<lead> carries 10.0.0.1, which is in …" for
// an address that embeds an IPv4 address; `lead` names the address.
std::string Describe(std::string lead, const BlockedBy& b) {
  if (b.embedded) {
    lead += " carries " + b.embedded->ToString() + ", which";
  }
  return lead + " is in " + b.block + ", " + b.purpose;
}

}  // namespace

std::optional<BlockedBy> FindBlockedRange(const core::IpAddress& raw, const GuardConfig& config) {
  if (core::ContainsAny(config.allowed_private_networks, raw)) {
    return std::nullopt;
  }
  if (!raw.v6) {
    return FindV4(raw);
  }
  const uint8_t* b = raw.bytes.data();
  // ::ffff:0:0/96 is the IPv4 address inside (an address built by hand may still be mapped).
  if (IsMapped(raw)) {
    return FindV4(V4(b + 12));
  }
  if (core::Contains(kNat64, raw)) {
    return FindEmbedded(V4(b + 12), config);
  }
  if (core::Contains(k6to4, raw)) {
    return FindEmbedded(V4(b + 2), config);
  }
  if (core::ContainsAny(V6Reachable(), raw)) {
    return std::nullopt;
  }
  for (const Block& block : V6Blocks()) {
    if (core::Contains(block.cidr, raw)) {
      return BlockedBy{block.block, block.purpose, std::nullopt};
    }
  }
  return std::nullopt;
}

std::optional<std::string> BlockedRange(const core::IpAddress& ip, const GuardConfig& config) {
  std::optional<BlockedBy> found = FindBlockedRange(ip, config);
  if (!found) {
    return std::nullopt;
  }
  return found->block;
}

std::optional<std::string> BlockedMessage(const core::IpAddress& ip, const GuardConfig& config) {
  std::optional<BlockedBy> found = FindBlockedRange(ip, config);
  if (!found) {
    return std::nullopt;
  }
  return Describe(ip.ToString(), *found);
}

bool PlainHttpAllowed(const core::IpAddress& ip, const GuardConfig& config) {
  return config.allow_http || core::ContainsAny(config.allowed_private_networks, ip);
}

std::optional<core::IpAddress> FromSockaddr(const sockaddr* addr) {
  if (addr == nullptr) {
    return std::nullopt;
  }
  core::IpAddress ip;
  if (addr->sa_family == AF_INET) {
    sockaddr_in in;
    std::memcpy(&in, addr, sizeof in);
    std::memcpy(ip.bytes.data(), &in.sin_addr, 4);
    return ip;
  }
  if (addr->sa_family == AF_INET6) {
    sockaddr_in6 in6;
    std::memcpy(&in6, addr, sizeof in6);
    ip.v6 = true;
    std::memcpy(ip.bytes.data(), &in6.sin6_addr, 16);
    if (IsMapped(ip)) {
      return V4(ip.bytes.data() + 12);
    }
    return ip;
  }
  return std::nullopt;
}

Resolver SystemResolver() {
  return [](const std::string& host) -> core::Result<std::vector<core::IpAddress>> {
    addrinfo hints{};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    addrinfo* raw = nullptr;
    int rc = getaddrinfo(host.c_str(), nullptr, &hints, &raw);
    if (rc != 0) {
      return core::Unavailable("cannot resolve " + host + ": " + gai_strerror(rc));
    }
    std::unique_ptr<addrinfo, decltype(&freeaddrinfo)> list(raw, freeaddrinfo);
    std::vector<core::IpAddress> out;
    for (const addrinfo* ai = list.get(); ai != nullptr; ai = ai->ai_next) {
      std::optional<core::IpAddress> ip = FromSockaddr(ai->ai_addr);
      if (ip && std::none_of(out.begin(), out.end(), [&](const core::IpAddress& seen) {
            return seen.v6 == ip->v6 && seen.bytes == ip->bytes;
          })) {
        out.push_back(*ip);
      }
    }
    return out;
  };
}

core::Result<ParsedUrl> ParseWebhookUrl(std::string_view url) {
  if (url.size() > kMaxUrlLength) {
    return UrlError("must be at most 2048 characters");
  }
  // Checked before parsing so the message says what is wrong: absolute-URI has no fragment.
  if (url.find('#') != std::string_view::npos) {
    return UrlError("must not have a fragment (#...): receivers never see it");
  }
  auto parsed = boost::urls::parse_absolute_uri(boost::core::string_view(url.data(), url.size()));
  if (!parsed) {
    return UrlError("must be an absolute URL such as https://example.com/hooks");
  }
  const boost::urls::url_view& u = *parsed;
  // Boost.URL 1.81 reads "https://example.com:8o/" as port 8 and path "o/", and
  // "https://1.2.3.4.5/" as host 1.2.3.4 and path ".5/" (boostorg/url#636, #680), where RFC 3986
  // allows only an empty path or one starting with '/' after an authority. So both that rule and,
  // against any other split of the kind, that the parts spell the whole URL again.
  std::string rebuilt = std::string(u.scheme()) + "://" + std::string(u.encoded_authority()) +
                        std::string(u.encoded_path()) +
                        (u.has_query() ? "?" + std::string(u.encoded_query()) : "");
  if ((!u.encoded_path().empty() && u.encoded_path().front() != '/') || rebuilt != url) {
    return UrlError("must be an absolute URL such as https://example.com/hooks");
  }
  ParsedUrl out;
  for (char c : u.scheme()) {
    out.scheme.push_back(Lower(c));
  }
  if (out.scheme != "https" && out.scheme != "http") {
    return UrlError("the scheme must be https (or http where allowed), not " + out.scheme);
  }
  if (!u.has_authority() || u.encoded_host().empty()) {
    return UrlError("must have a host");
  }
  if (u.has_userinfo()) {
    return UrlError("must not contain a user name or password (user:pass@); use basic_auth");
  }
  switch (u.host_type()) {
    case boost::urls::host_type::ipv4:
    case boost::urls::host_type::ipv6:
      out.host = std::string(u.encoded_host_address());
      out.host_is_ip = true;
      break;
    case boost::urls::host_type::name: {
      std::string_view name(u.encoded_host().data(), u.encoded_host().size());
      if (std::string problem = CheckHostName(name); !problem.empty()) {
        return UrlError(problem);
      }
      for (char c : name) {
        out.host.push_back(Lower(c));
      }
      break;
    }
    default:
      return UrlError("the host must be a DNS name, an IPv4 address or a bracketed IPv6 address");
  }
  if (out.host_is_ip) {
    std::optional<core::IpAddress> ip = core::ParseIp(out.host);
    if (!ip) {
      return UrlError("the host is not a valid IP address");
    }
    for (char& c : out.host) {
      c = Lower(c);
    }
  }
  out.port = out.scheme == "https" ? 443 : 80;
  if (u.has_port() && !u.port().empty()) {
    std::string_view p(u.port().data(), u.port().size());
    int port = 0;
    for (char c : p) {
      port = port * 10 + (c - '0');
      if (port > 65535) {
        break;
      }
    }
    if (port < 1 || port > 65535) {
      return UrlError("the port must be 1 to 65535");
    }
    out.port = port;
  }
  out.path_and_query = u.encoded_path().empty() ? "/" : std::string(u.encoded_path());
  if (u.has_query()) {
    out.path_and_query += "?" + std::string(u.encoded_query());
  }
  return out;
}

core::Status CheckUrlAtSave(std::string_view url, const GuardConfig& config,
                            const Resolver& resolve) {
  LW_ASSIGN_OR_RETURN(ParsedUrl parsed, ParseWebhookUrl(url));
  std::vector<core::IpAddress> addresses;
  if (parsed.host_is_ip) {
    addresses.push_back(*core::ParseIp(parsed.host));
  } else if (resolve) {
    // A failed lookup leaves the list empty: accepted, the attempt-time check decides.
    if (core::Result<std::vector<core::IpAddress>> resolved = resolve(parsed.host); resolved.ok()) {
      addresses = std::move(resolved).value();
    }
  }
  for (const core::IpAddress& ip : addresses) {
    if (std::optional<BlockedBy> found = FindBlockedRange(ip, config)) {
      // An IP literal is named as written ("::ffff:10.0.0.1"), a name with what it resolved to.
      return UrlError(Describe(parsed.host_is_ip
                                   ? parsed.host
                                   : parsed.host + " resolves to " + ip.ToString() + ", which",
                               *found));
    }
  }
  if (parsed.scheme == "http" && !config.allow_http) {
    bool inside = !addresses.empty() &&
                  std::all_of(addresses.begin(), addresses.end(), [&](const core::IpAddress& ip) {
                    return PlainHttpAllowed(ip, config);
                  });
    if (!inside) {
      return UrlError(
          "must use https://: http:// is allowed only for hosts inside allowed_private_networks");
    }
  }
  return core::Status::Ok();
}

}  // namespace learnwire::delivery
