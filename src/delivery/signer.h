// Webhook signatures (WEBHOOKS.md §3): the Standard Webhooks symmetric scheme
// (https://github.com/standard-webhooks/standard-webhooks, spec/standard-webhooks.md) and the
// legacy x-learnwire-signature header, over OpenSSL HMAC-SHA256. Secrets are "whsec_" + standard
// base64 with padding (RFC 4648 §4) of 24-64 random bytes; "keys" below are the decoded bytes.
// Pure functions; thread-safe.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"

namespace learnwire::delivery {

inline constexpr std::string_view kSecretPrefix = "whsec_";
inline constexpr std::size_t kMinSecretBytes = 24;
inline constexpr std::size_t kMaxSecretBytes = 64;
inline constexpr std::size_t kDefaultSecretBytes = 32;

// "whsec_" + standard base64 with padding of `bytes` random bytes (clamped to 24-64).
std::string NewSecret(std::size_t bytes = kDefaultSecretBytes);
// Decodes a whsec_ secret into its raw key; Invalid (field "secret") unless it is "whsec_" + strict
// standard base64 WITH padding (RFC 4648 §4: alphabet A-Z a-z 0-9 + /, length a multiple of 4,
// '=' only as the final padding, unused bits zero) of 24-64 bytes.
core::Result<std::string> DecodeSecret(std::string_view whsec);

// Standard base64 with padding, and its strict inverse (nullopt on anything RFC 4648 §4 refuses,
// including non-canonical final characters and whitespace).
std::string Base64(std::string_view bytes);
std::optional<std::string> FromBase64(std::string_view text);

// "v1," + base64(HMAC-SHA256(key, "{msg_id}.{timestamp}.{body}")).
std::string SignV1(std::string_view key, std::string_view msg_id, int64_t timestamp_s,
                   std::string_view body);
// The webhook-signature header: SignV1 for each key (newest first), space-separated.
std::string SignatureHeader(const std::vector<std::string>& keys_newest_first,
                            std::string_view msg_id, int64_t timestamp_s, std::string_view body);
// The x-learnwire-signature header: "sha256=" + lower-hex(HMAC-SHA256(key, body)).
std::string LegacySignature(std::string_view key, std::string_view body);
// Whether a webhook-signature header value carries a "v1," entry that matches `key` (entries are
// separated by spaces; other versions and malformed entries are skipped). Each comparison is
// constant-time (CRYPTO_memcmp). It checks the signature only: the caller checks the timestamp's
// tolerance. (Used by `learnwire verify`.)
bool VerifyV1(std::string_view key, std::string_view msg_id, int64_t timestamp_s,
              std::string_view body, std::string_view header);

}  // namespace learnwire::delivery
