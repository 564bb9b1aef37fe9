// `learnwire verify` and the check it shares with `learnwire listen` (PRODUCT.md "The CLI"):
// a request verified the way a Standard Webhooks receiver does it (WEBHOOKS.md §3), with either a
// subscription's `whsec_` secret (`v1,` HMAC-SHA256 entries) or its `whpk_` public key (`v1a,`
// Ed25519 entries). Pure functions except RunVerify; thread-safe.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>

#include "core/status.h"

namespace learnwire::cli {

// Standard Webhooks' default tolerance for the age (or lead) of webhook-timestamp.
inline constexpr int64_t kTimestampToleranceS = 5 * 60;

// Request headers by lower-case name, as http::Request keeps them.
using Headers = std::multimap<std::string, std::string>;
// The first value of a header, or null when absent.
const std::string* FindHeader(const Headers& headers, const std::string& lower_name);

// The decoded key a request is verified with.
struct VerifyKey {
  enum class Kind { kHmac, kEd25519 } kind = Kind::kHmac;
  std::string bytes;  // the HMAC key, or the 32-byte Ed25519 public key
};

// Exactly one of --secret / --public-key, decoded. kInvalidArgument (a usage error, exit 2) with a
// one-line message naming the problem otherwise; the message never contains the key itself.
core::Result<VerifyKey> ChooseKey(const std::optional<std::string>& secret,
                                  const std::optional<std::string>& public_key);

// Parses `Name: value` lines (LF or CRLF). Blank lines and a leading HTTP request or status line
// ("POST /hook HTTP/1.1", "HTTP/1.1 200 OK") are skipped; names are lower-cased, values trimmed.
// kInvalidArgument naming the line number on any other line without a `name:` prefix.
core::Result<Headers> ParseHeaderLines(std::string_view text);

// The judgement on one request. `reason` is empty when it verified; otherwise "missing-headers",
// "bad-timestamp" (not Unix seconds), "stale-timestamp" or "bad-signature", with `detail`, one
// sentence for a person.
struct Verdict {
  std::string reason;
  std::string detail;
  bool ok() const { return reason.empty(); }
};

// Verifies the webhook-* headers and the raw body with `key`. With `now_s`, webhook-timestamp must
// also lie within kTimestampToleranceS of it (listen); without, only the signature counts (verify:
// a saved request is usually old).
Verdict Check(const VerifyKey& key, const Headers& headers, std::string_view body,
              std::optional<int64_t> now_s);

// `learnwire verify`: 0 valid, 1 invalid (one line on stderr saying why), 2 usage (one line).
int RunVerify(const std::optional<std::string>& secret,
              const std::optional<std::string>& public_key, const std::string& headers_file,
              const std::string& body_file);

}  // namespace learnwire::cli
