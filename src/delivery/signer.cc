#include "delivery/signer.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/sha.h>

#include <algorithm>
#include <array>

#include "core/random.h"

namespace learnwire::delivery {
namespace {

using Mac = std::array<unsigned char, SHA256_DIGEST_LENGTH>;

Mac HmacSha256(std::string_view key, std::string_view data) {
  Mac out{};
  unsigned int len = 0;
  HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
       reinterpret_cast<const unsigned char*>(data.data()), data.size(), out.data(), &len);
  return out;
}

std::string ToSign(std::string_view msg_id, int64_t timestamp_s, std::string_view body) {
  std::string s;
  s.reserve(msg_id.size() + body.size() + 22);
  s.append(msg_id).append(".").append(std::to_string(timestamp_s)).append(".").append(body);
  return s;
}

bool IsBase64Char(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '+' ||
         c == '/';
}

}  // namespace

std::string Base64(std::string_view bytes) {
  std::string out(4 * ((bytes.size() + 2) / 3) + 1, '\0');
  int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                          reinterpret_cast<const unsigned char*>(bytes.data()),
                          static_cast<int>(bytes.size()));
  out.resize(static_cast<std::size_t>(n));
  return out;
}

std::optional<std::string> FromBase64(std::string_view text) {
  if (text.size() % 4 != 0) {
    return std::nullopt;
  }
  std::size_t pad = 0;
  while (pad < 2 && pad < text.size() && text[text.size() - 1 - pad] == '=') {
    ++pad;
  }
  // EVP_DecodeBlock skips surrounding whitespace and accepts '=' in odd places; only the RFC 4648
  // alphabet may reach it.
  if (!std::all_of(text.begin(), text.end() - static_cast<std::ptrdiff_t>(pad), IsBase64Char)) {
    return std::nullopt;
  }
  std::string out(text.size() / 4 * 3, '\0');
  int n = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                          reinterpret_cast<const unsigned char*>(text.data()),
                          static_cast<int>(text.size()));
  if (n < 0 || static_cast<std::size_t>(n) != out.size()) {
    return std::nullopt;
  }
  out.resize(out.size() - pad);
  // Canonical only: the bits under the padding must be zero, so each key has one spelling.
  if (Base64(out) != text) {
    return std::nullopt;
  }
  return out;
}

std::string NewSecret(std::size_t bytes) {
  bytes = std::clamp(bytes, kMinSecretBytes, kMaxSecretBytes);
  return std::string(kSecretPrefix) + Base64(core::RandomBytes(bytes));
}

core::Result<std::string> DecodeSecret(std::string_view whsec) {
  static constexpr const char* kFormat =
      "must be whsec_ followed by standard base64 with padding of 24 to 64 bytes";
  if (whsec.substr(0, kSecretPrefix.size()) != kSecretPrefix) {
    return core::Status::Invalid("secret", kFormat);
  }
  std::optional<std::string> key = FromBase64(whsec.substr(kSecretPrefix.size()));
  if (!key || key->size() < kMinSecretBytes || key->size() > kMaxSecretBytes) {
    return core::Status::Invalid("secret", kFormat);
  }
  return std::move(*key);
}

std::string SignV1(std::string_view key, std::string_view msg_id, int64_t timestamp_s,
                   std::string_view body) {
  Mac mac = HmacSha256(key, ToSign(msg_id, timestamp_s, body));
  return "v1," + Base64(std::string_view(reinterpret_cast<const char*>(mac.data()), mac.size()));
}

std::string SignatureHeader(const std::vector<std::string>& keys_newest_first,
                            std::string_view msg_id, int64_t timestamp_s, std::string_view body) {
  std::string header;
  for (const std::string& key : keys_newest_first) {
    if (!header.empty()) {
      header.push_back(' ');
    }
    header += SignV1(key, msg_id, timestamp_s, body);
  }
  return header;
}

std::string LegacySignature(std::string_view key, std::string_view body) {
  static constexpr char kHex[] = "0123456789abcdef";
  Mac mac = HmacSha256(key, body);
  std::string out = "sha256=";
  for (unsigned char c : mac) {
    out.push_back(kHex[c >> 4]);
    out.push_back(kHex[c & 15]);
  }
  return out;
}

bool VerifyV1(std::string_view key, std::string_view msg_id, int64_t timestamp_s,
              std::string_view body, std::string_view header) {
  Mac want = HmacSha256(key, ToSign(msg_id, timestamp_s, body));
  bool matched = false;
  std::size_t start = 0;
  while (start <= header.size()) {
    std::size_t end = std::min(header.find(' ', start), header.size());
    std::string_view entry = header.substr(start, end - start);
    start = end + 1;
    if (entry.substr(0, 3) != "v1,") {
      continue;
    }
    std::optional<std::string> got = FromBase64(entry.substr(3));
    // Every entry is compared (no early exit), each in constant time.
    if (got && got->size() == want.size() &&
        CRYPTO_memcmp(got->data(), want.data(), want.size()) == 0) {
      matched = true;
    }
  }
  return matched;
}

}  // namespace learnwire::delivery
