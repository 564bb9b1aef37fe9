#include "delivery/signer.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/sha.h>

#include <algorithm>
#include <array>
#include <memory>

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

struct PkeyFree {
  void operator()(EVP_PKEY* k) const { EVP_PKEY_free(k); }
};
struct MdCtxFree {
  void operator()(EVP_MD_CTX* c) const { EVP_MD_CTX_free(c); }
};
using Pkey = std::unique_ptr<EVP_PKEY, PkeyFree>;
using MdCtx = std::unique_ptr<EVP_MD_CTX, MdCtxFree>;

Pkey PrivateKeyOf(std::string_view seed) {
  return Pkey(EVP_PKEY_new_raw_private_key(
      EVP_PKEY_ED25519, nullptr, reinterpret_cast<const unsigned char*>(seed.data()), seed.size()));
}

// Calls `visit` with each entry of a webhook-signature header that starts with `prefix`
// (the part after it); entries are separated by spaces.
template <typename Visit>
void ForEachEntry(std::string_view header, std::string_view prefix, Visit visit) {
  std::size_t start = 0;
  while (start <= header.size()) {
    std::size_t end = std::min(header.find(' ', start), header.size());
    std::string_view entry = header.substr(start, end - start);
    start = end + 1;
    if (entry.substr(0, prefix.size()) == prefix) {
      visit(entry.substr(prefix.size()));
    }
  }
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

std::string SignatureHeader(const std::vector<SigningKey>& keys_newest_first,
                            std::string_view msg_id, int64_t timestamp_s, std::string_view body) {
  std::string header;
  for (const SigningKey& k : keys_newest_first) {
    if (!header.empty()) {
      header.push_back(' ');
    }
    header += k.kind == SigningKey::Kind::kHmac ? SignV1(k.key, msg_id, timestamp_s, body)
                                                : SignV1a(k.key, msg_id, timestamp_s, body);
  }
  return header;
}

core::Result<SigningKey> DecodeSigningKey(std::string_view stored) {
  if (stored.substr(0, kPrivateKeyPrefix.size()) == kPrivateKeyPrefix) {
    std::optional<std::string> seed = FromBase64(stored.substr(kPrivateKeyPrefix.size()));
    if (!seed || seed->size() != kEd25519KeyBytes) {
      return core::Internal("a stored Ed25519 private key is malformed");
    }
    return SigningKey{SigningKey::Kind::kEd25519, std::move(*seed)};
  }
  LW_ASSIGN_OR_RETURN(std::string key, DecodeSecret(stored));
  return SigningKey{SigningKey::Kind::kHmac, std::move(key)};
}

std::string NewPrivateKey() {
  return std::string(kPrivateKeyPrefix) + Base64(core::RandomBytes(kEd25519KeyBytes));
}

std::string Ed25519PublicKey(std::string_view seed) {
  Pkey key = PrivateKeyOf(seed);
  std::string out(kEd25519KeyBytes, '\0');
  std::size_t len = out.size();
  if (!key ||
      EVP_PKEY_get_raw_public_key(key.get(), reinterpret_cast<unsigned char*>(out.data()), &len) !=
          1 ||
      len != out.size()) {
    return {};
  }
  return out;
}

std::string PublicKeyText(std::string_view seed) {
  return std::string(kPublicKeyPrefix) + Base64(Ed25519PublicKey(seed));
}

core::Result<std::string> DecodePublicKey(std::string_view whpk) {
  std::optional<std::string> key;
  if (whpk.substr(0, kPublicKeyPrefix.size()) == kPublicKeyPrefix) {
    key = FromBase64(whpk.substr(kPublicKeyPrefix.size()));
  }
  if (!key || key->size() != kEd25519KeyBytes) {
    return core::Status::Invalid("public_key",
                                 "must be whpk_ followed by standard base64 of 32 bytes");
  }
  return std::move(*key);
}

std::string Ed25519Sign(std::string_view seed, std::string_view message) {
  Pkey key = PrivateKeyOf(seed);
  MdCtx ctx(EVP_MD_CTX_new());
  std::string sig(64, '\0');
  std::size_t len = sig.size();
  // Ed25519 is one-shot: no digest, the whole message at once.
  if (!key || !ctx || EVP_DigestSignInit(ctx.get(), nullptr, nullptr, nullptr, key.get()) != 1 ||
      EVP_DigestSign(ctx.get(), reinterpret_cast<unsigned char*>(sig.data()), &len,
                     reinterpret_cast<const unsigned char*>(message.data()), message.size()) != 1) {
    return {};
  }
  sig.resize(len);
  return sig;
}

std::string SignV1a(std::string_view seed, std::string_view msg_id, int64_t timestamp_s,
                    std::string_view body) {
  return "v1a," + Base64(Ed25519Sign(seed, ToSign(msg_id, timestamp_s, body)));
}

bool VerifyV1a(std::string_view public_key, std::string_view msg_id, int64_t timestamp_s,
               std::string_view body, std::string_view header) {
  Pkey key(EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, nullptr,
                                       reinterpret_cast<const unsigned char*>(public_key.data()),
                                       public_key.size()));
  if (!key) {
    return false;
  }
  const std::string message = ToSign(msg_id, timestamp_s, body);
  bool matched = false;
  ForEachEntry(header, "v1a,", [&](std::string_view b64) {
    std::optional<std::string> sig = FromBase64(b64);
    MdCtx ctx(EVP_MD_CTX_new());
    if (sig && ctx && EVP_DigestVerifyInit(ctx.get(), nullptr, nullptr, nullptr, key.get()) == 1 &&
        EVP_DigestVerify(ctx.get(), reinterpret_cast<const unsigned char*>(sig->data()),
                         sig->size(), reinterpret_cast<const unsigned char*>(message.data()),
                         message.size()) == 1) {
      matched = true;
    }
  });
  return matched;
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
  ForEachEntry(header, "v1,", [&](std::string_view b64) {
    std::optional<std::string> got = FromBase64(b64);
    // Every entry is compared (no early exit), each in constant time.
    if (got && got->size() == want.size() &&
        CRYPTO_memcmp(got->data(), want.data(), want.size()) == 0) {
      matched = true;
    }
  });
  return matched;
}

}  // namespace learnwire::delivery
