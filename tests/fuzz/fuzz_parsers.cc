// libFuzzer target for the small parsers that read untrusted text: request targets, times,
// emails, CIDR blocks, cursors, client addresses, webhook URLs (the URL guard), secrets,
// signature headers, Retry-After values and retry policies. Crashes and sanitizer reports are
// findings; round-trip properties are checked where they exist.
#include <boost/json.hpp>
#include <cstdint>
#include <cstdlib>
#include <string>

#include "api/list.h"
#include "core/net.h"
#include "core/time_format.h"
#include "delivery/retry_policy.h"
#include "delivery/signer.h"
#include "delivery/url_guard.h"
#include "domain/identity.h"
#include "http/client_address.h"
#include "http/request_target.h"

using namespace learnwire;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string s(reinterpret_cast<const char*>(data), size);
  (void)http::DecodeTarget(s);
  (void)http::IsValidRequestId(s);
  if (auto t = core::ParseTime(s)) {
    // Whatever parses formats and parses back to the same instant.
    if (*t >= -62135596800000LL && *t <= 253402300799999LL &&
        core::ParseTime(core::FormatTime(*t)) != *t) {
      std::abort();
    }
  }
  (void)domain::CheckEmail(s);
  (void)core::ParseCidr(s);
  (void)api::DecodeCursor("k", "/api/v1/learners|org", s, domain::ListOrder::kByUpdated);
  http::Request req;
  req.remote_addr = "10.0.0.1";
  req.headers.emplace("x-forwarded-for", s);
  (void)http::ClientAddress(req, {*core::ParseCidr("10.0.0.0/8")});

  // The URL guard: a URL it accepts names no blocked literal address.
  delivery::GuardConfig guard;
  auto no_dns = [](const std::string&) {
    return core::Result<std::vector<core::IpAddress>>(core::Unavailable("no DNS here"));
  };
  if (delivery::CheckUrlAtSave(s, guard, no_dns).ok()) {
    auto parsed = delivery::ParseWebhookUrl(s);
    if (!parsed.ok()) {
      std::abort();
    }
    if (auto ip = core::ParseIp(parsed->host); ip && delivery::BlockedRange(*ip, guard)) {
      std::abort();
    }
  }
  // Secrets and signatures: a decoded secret encodes back to itself; verifying never crashes.
  if (auto key = delivery::DecodeSecret(s); key.ok()) {
    if (std::string(delivery::kSecretPrefix) + delivery::Base64(*key) != s) {
      std::abort();
    }
  }
  (void)delivery::VerifyV1("0123456789abcdef0123456789abcdef", "msg_1", 1, "{}", s);
  // Ed25519: a decoded public key encodes back; verifying any header with a fixed key never
  // crashes (nor matches: no input signs for it).
  if (auto pk = delivery::DecodePublicKey(s); pk.ok()) {
    if (std::string(delivery::kPublicKeyPrefix) + delivery::Base64(*pk) != s) {
      std::abort();
    }
  }
  static const std::string kPublic = delivery::Ed25519PublicKey(std::string(32, 'k'));
  (void)delivery::VerifyV1a(kPublic, "msg_1", 1, "{}", s);
  (void)delivery::DecodeSigningKey(s);
  (void)delivery::ParseRetryAfter(s, core::FromUnixMs(1'790'000'000'000));
  boost::system::error_code ec;
  boost::json::value policy = boost::json::parse(s, ec);
  if (!ec) {
    if (auto p = delivery::ParseRetryPolicy(&policy); p.ok()) {
      // A policy that parses renders to one that parses to the same thing.
      boost::json::value rendered = delivery::RenderRetryPolicy(*p);
      auto again = delivery::ParseRetryPolicy(&rendered);
      if (!again.ok() || delivery::StoredRetryPolicy(*again) != delivery::StoredRetryPolicy(*p)) {
        std::abort();
      }
    }
  }
  return 0;
}
