// The URL guard of WEBHOOKS.md §7: which webhook URLs may be saved and which socket addresses a
// delivery attempt may connect to. A URL may not reach an address in an IANA special-purpose block
// that is not globally reachable, unless the address lies inside `allowed_private_networks`; plain
// http:// only for hosts inside those networks or when `allow_http_webhooks` is set.
// The save-time check (CheckUrlAtSave) resolves names through an injected Resolver; the
// attempt-time check (BlockedMessage on FromSockaddr of the connected address) is the authoritative
// one. Pure functions over value types; thread-safe.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/net.h"
#include "core/status.h"

struct sockaddr;

namespace learnwire::delivery {

inline constexpr std::size_t kMaxUrlLength = 2048;

struct GuardConfig {
  std::vector<core::Cidr> allowed_private_networks;
  bool allow_http = false;  // allow_http_webhooks
};

// Why an address is unreachable for webhooks.
struct BlockedBy {
  std::string block;    // "10.0.0.0/8"
  std::string purpose;  // "a private network"
  // The IPv4 address a 6to4 (2002::/16) or NAT64 (64:ff9b::/96) address carries, when that
  // address is what put it in `block`.
  std::optional<core::IpAddress> embedded;
};

// The special-purpose block that makes `ip` unreachable for webhooks, or nullopt when the address
// is globally reachable or inside allowed_private_networks (for a 6to4 or NAT64 address, when
// either it or the IPv4 address it embeds is inside them). The blocks, from the IANA IPv4 and IPv6
// Special-Purpose Address Registries (entries whose "Globally Reachable" is False), §7 and the
// IPv6 Address Space registry:
//   IPv4: 0.0.0.0/8, 10/8, 100.64/10, 127/8, 169.254/16, 172.16/12, 192.0.0.0/24 (whole: §7 lists
//   it, so its anycast /32s 192.0.0.9 and .10 stay blocked too), 192.0.2/24, 192.168/16, 198.18/15,
//   198.51.100/24, 203.0.113/24, 224/4 (multicast), 240/4, 255.255.255.255/32.
//   IPv6: ::/128, ::1/128, ::/96 (IPv4-compatible), ::ffff:0:0/96 (judged as the IPv4 inside),
//   64:ff9b::/96 (judged by the IPv4 inside), 64:ff9b:1::/48, 100::/64, 100:0:0:1::/64,
//   2001::/23 except its globally reachable 2001:1::1/128, 2001:1::2/128, 2001:1::3/128,
//   2001:3::/32, 2001:4:112::/48, 2001:20::/28 and 2001:30::/28 (so Teredo 2001::/32 is blocked),
//   2001:db8::/32, 2002::/16 (judged by the IPv4 inside), 3fff::/20, 5f00::/16, fc00::/7,
//   fe80::/10, fec0::/10, ff00::/8, and every other block outside 2000::/3 that the IETF keeps
//   reserved (no unicast address is assigned there, so no receiver can live there).
std::optional<BlockedBy> FindBlockedRange(const core::IpAddress& ip, const GuardConfig& config);
// FindBlockedRange's block alone ("10.0.0.0/8").
std::optional<std::string> BlockedRange(const core::IpAddress& ip, const GuardConfig& config);
// The sentence naming `ip` and its block ("10.1.2.3 is in 10.0.0.0/8, a private network"), or
// nullopt when `ip` may be reached. For the attempt-time check and the save-time error.
std::optional<std::string> BlockedMessage(const core::IpAddress& ip, const GuardConfig& config);
// Whether plain http:// may be used towards `ip`: allow_http, or `ip` inside
// allowed_private_networks.
bool PlainHttpAllowed(const core::IpAddress& ip, const GuardConfig& config);

// The address in a socket address (AF_INET or AF_INET6; an IPv4-mapped IPv6 address becomes the
// IPv4 address, as core::ParseIp does), or nullopt for any other family or a null pointer.
std::optional<core::IpAddress> FromSockaddr(const sockaddr* addr);

// Resolves a host name to addresses (getaddrinfo by default); injectable for tests.
using Resolver = std::function<core::Result<std::vector<core::IpAddress>>(const std::string& host)>;
// getaddrinfo(host, AF_UNSPEC, SOCK_STREAM), each address once; Unavailable when it fails.
Resolver SystemResolver();

struct ParsedUrl {
  std::string scheme;          // "http" or "https", lower case
  std::string host;            // lower case; an IPv6 literal without brackets
  int port = 0;                // the explicit port, else 80 or 443
  std::string path_and_query;  // "/" when the URL has no path; percent-encoding kept
  bool host_is_ip = false;     // an IPv4 or IPv6 literal
};

// The syntax rules of §1 for a webhook `url`: an absolute URL (RFC 3986) of at most 2,048
// characters, scheme http or https (any case), an authority with a host and no userinfo (not even
// an empty "@"), an optional port 1-65535, and no fragment (a fragment is never sent, so one in
// a webhook URL is a mistake: refused). A host is an IPv4 literal, a bracketed IPv6 literal (no
// zone, no IPvFuture) or a DNS name: labels of letters, digits, '-' and '_' of 1-63 characters,
// at most 253 in all, an optional final dot. A name whose last label is numeric ("127.1",
// "0x7f000001", "2130706433") is refused: resolvers read those as IPv4 addresses in forms that
// hide what they are. Errors are Status::Invalid with one FieldError on "url".
core::Result<ParsedUrl> ParseWebhookUrl(std::string_view url);

// The check at save time: syntax; then, if the host is an IP literal, that address, and if it is
// a name, every address it resolves to, must pass BlockedMessage. A name that does not resolve (or
// resolves to nothing) is accepted: DNS may be unavailable, and the attempt-time check on the
// connected socket is authoritative. http:// is accepted only when allow_http is set or when the
// host has addresses and every one lies inside allowed_private_networks (so an unresolvable
// http:// name is refused). Errors are Status::Invalid with one FieldError on "url" whose message
// names the address and the block ("10.1.2.3 is in 10.0.0.0/8, a private network"; for a name,
// "hooks.example.com resolves to 10.1.2.3, which is in …"). An empty `resolve` counts as a lookup
// that failed. SystemResolver blocks for as long as getaddrinfo does: not on an event loop.
core::Status CheckUrlAtSave(std::string_view url, const GuardConfig& config,
                            const Resolver& resolve);

}  // namespace learnwire::delivery
