#include "http/client_address.h"

namespace learnwire::http {
namespace {

std::string Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) {
    s.remove_prefix(1);
  }
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) {
    s.remove_suffix(1);
  }
  return std::string(s);
}

}  // namespace

std::string ClientAddress(const Request& req, const std::vector<core::Cidr>& trusted) {
  auto peer = core::ParseIp(req.remote_addr);
  if (!peer || !core::ContainsAny(trusted, *peer)) {
    return req.remote_addr;
  }
  // Every X-Forwarded-For header, in order, as one list of hops (client first).
  std::vector<std::string> hops;
  auto range = req.headers.equal_range("x-forwarded-for");
  for (auto it = range.first; it != range.second; ++it) {
    std::string_view v = it->second;
    std::size_t start = 0;
    while (start <= v.size()) {
      std::size_t comma = v.find(',', start);
      std::string hop =
          Trim(v.substr(start, comma == std::string_view::npos ? comma : comma - start));
      if (!hop.empty()) {
        hops.push_back(hop);
      }
      if (comma == std::string_view::npos) {
        break;
      }
      start = comma + 1;
    }
  }
  std::string client = peer->ToString();
  for (auto it = hops.rbegin(); it != hops.rend(); ++it) {
    auto ip = core::ParseIp(*it);
    if (!ip) {
      break;  // a hop we cannot read ends what can be believed
    }
    client = ip->ToString();
    if (!core::ContainsAny(trusted, *ip)) {
      break;
    }
  }
  return client;
}

}  // namespace learnwire::http
