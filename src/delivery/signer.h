// Webhook signatures (WEBHOOKS.md §3): the Standard Webhooks symmetric scheme (`v1,`, HMAC-SHA256)
// and asymmetric one (`v1a,`, Ed25519) (https://github.com/standard-webhooks/standard-webhooks,
// spec/standard-webhooks.md), and the legacy x-learnwire-signature header, over OpenSSL. HMAC
// secrets are "whsec_" + standard base64 with padding (RFC 4648 §4) of 24-64 random bytes;
// Ed25519 private keys are stored as "whsk_" + base64 of the 32-byte seed (RFC 8032) and never
// leave the server; public keys are shown as "whpk_" + base64 of their 32 bytes. Pure functions;
// thread-safe.
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
inline constexpr std::string_view kPrivateKeyPrefix = "whsk_";
inline constexpr std::string_view kPublicKeyPrefix = "whpk_";
inline constexpr std::size_t kEd25519KeyBytes = 32;

// One key a delivery is signed with, decoded from what webhook_secrets stores.
struct SigningKey {
  enum class Kind { kHmac, kEd25519 } kind = Kind::kHmac;
  std::string key;  // the HMAC key bytes, or the Ed25519 seed
};
// Decodes a stored "whsec_…" or "whsk_…" value.
core::Result<SigningKey> DecodeSigningKey(std::string_view stored);

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
// The webhook-signature header: SignV1 or SignV1a for each key (newest first), space-separated.
std::string SignatureHeader(const std::vector<SigningKey>& keys_newest_first,
                            std::string_view msg_id, int64_t timestamp_s, std::string_view body);

// A new Ed25519 private key, as stored: "whsk_" + base64 of 32 random bytes (the seed).
std::string NewPrivateKey();
// The 32 public-key bytes of a seed, and the "whpk_…" form shown to users.
std::string Ed25519PublicKey(std::string_view seed);
std::string PublicKeyText(std::string_view seed);
// Decodes "whpk_…" into its 32 bytes; Invalid (field "public_key") otherwise.
core::Result<std::string> DecodePublicKey(std::string_view whpk);
// The 64-byte Ed25519 signature (RFC 8032) of `message` by the key of `seed`.
std::string Ed25519Sign(std::string_view seed, std::string_view message);
// "v1a," + base64(Ed25519Sign(seed, "{msg_id}.{timestamp}.{body}")).
std::string SignV1a(std::string_view seed, std::string_view msg_id, int64_t timestamp_s,
                    std::string_view body);
// Whether a webhook-signature header carries a "v1a," entry that `public_key` (32 bytes)
// verifies. Like VerifyV1, the signature only: the caller checks the timestamp.
bool VerifyV1a(std::string_view public_key, std::string_view msg_id, int64_t timestamp_s,
               std::string_view body, std::string_view header);
// The x-learnwire-signature header: "sha256=" + lower-hex(HMAC-SHA256(key, body)).
std::string LegacySignature(std::string_view key, std::string_view body);
// Whether a webhook-signature header value carries a "v1," entry that matches `key` (entries are
// separated by spaces; other versions and malformed entries are skipped). Each comparison is
// constant-time (CRYPTO_memcmp). It checks the signature only: the caller checks the timestamp's
// tolerance. (Used by `learnwire verify`.)
bool VerifyV1(std::string_view key, std::string_view msg_id, int64_t timestamp_s,
              std::string_view body, std::string_view header);

}  // namespace learnwire::delivery
