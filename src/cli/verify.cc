#include "cli/verify.h"

#include <cerrno>
#include <charconv>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <utility>

#include "delivery/signer.h"

namespace learnwire::cli {
namespace {

constexpr int kInvalid = 1;
constexpr int kUsage = 2;

std::string_view Trim(std::string_view s) {
  const char* kSpace = " \t\r";
  std::size_t b = s.find_first_not_of(kSpace);
  if (b == std::string_view::npos) {
    return {};
  }
  return s.substr(b, s.find_last_not_of(kSpace) - b + 1);
}

// An RFC 9110 token: what a header name may be.
bool IsToken(std::string_view s) {
  if (s.empty()) {
    return false;
  }
  for (char c : s) {
    bool alnum = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
    if (!alnum && !std::strchr("!#$%&'*+-.^_`|~", c)) {
      return false;
    }
  }
  return true;
}

// "POST /hook HTTP/1.1" or "HTTP/1.1 200 OK", as a saved request or `curl -i` output begins.
bool IsStartLine(std::string_view line) {
  return line.starts_with("HTTP/") || line.find(" HTTP/") != std::string_view::npos;
}

std::string Lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') {
      c = static_cast<char>(c - 'A' + 'a');
    }
  }
  return out;
}

// Unix seconds as Standard Webhooks sends them: decimal digits only. The signed content uses the
// number re-rendered (as the reference libraries do), so "+1" or " 1" must not pass as 1.
std::optional<int64_t> ParseSeconds(std::string_view text) {
  int64_t v = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (text.empty() || text[0] == '-' || ec != std::errc() || end != text.data() + text.size()) {
    return std::nullopt;
  }
  return v;
}

std::optional<std::string> ReadFile(const std::string& path, std::string& error) {
  std::unique_ptr<FILE, int (*)(FILE*)> f(std::fopen(path.c_str(), "rb"), &std::fclose);
  if (!f) {
    error = std::strerror(errno);
    return std::nullopt;
  }
  std::string out;
  char buf[64 * 1024];
  std::size_t n = 0;
  while ((n = std::fread(buf, 1, sizeof buf, f.get())) > 0) {
    out.append(buf, n);
  }
  if (std::ferror(f.get())) {  // e.g. a directory: fopen succeeds, reading fails
    error = std::strerror(errno);
    return std::nullopt;
  }
  return out;
}

}  // namespace

const std::string* FindHeader(const Headers& headers, const std::string& lower_name) {
  auto it = headers.find(lower_name);
  return it == headers.end() ? nullptr : &it->second;
}

core::Result<VerifyKey> ChooseKey(const std::optional<std::string>& secret,
                                  const std::optional<std::string>& public_key) {
  if (secret.has_value() == public_key.has_value()) {
    return core::InvalidArgument("give exactly one of --secret whsec_… or --public-key whpk_…");
  }
  // The decoders' own messages describe the format and never echo the value.
  if (secret) {
    auto key = delivery::DecodeSecret(*secret);
    if (!key.ok()) {
      return core::InvalidArgument("--secret: " + key.status().fields().front().message);
    }
    return VerifyKey{VerifyKey::Kind::kHmac, std::move(key).value()};
  }
  auto key = delivery::DecodePublicKey(*public_key);
  if (!key.ok()) {
    return core::InvalidArgument("--public-key: " + key.status().fields().front().message);
  }
  return VerifyKey{VerifyKey::Kind::kEd25519, std::move(key).value()};
}

core::Result<Headers> ParseHeaderLines(std::string_view text) {
  Headers headers;
  bool first = true;
  int number = 0;
  while (!text.empty()) {
    std::size_t eol = text.find('\n');
    std::string_view line = Trim(text.substr(0, eol));
    text = eol == std::string_view::npos ? std::string_view() : text.substr(eol + 1);
    ++number;
    if (line.empty()) {
      continue;
    }
    bool leading = std::exchange(first, false);
    std::size_t colon = line.find(':');
    if (colon == std::string_view::npos || !IsToken(line.substr(0, colon))) {
      if (leading && IsStartLine(line)) {
        continue;
      }
      return core::InvalidArgument("line " + std::to_string(number) +
                                   " is not a \"Name: value\" header line");
    }
    headers.emplace(Lower(line.substr(0, colon)), std::string(Trim(line.substr(colon + 1))));
  }
  return headers;
}

Verdict Check(const VerifyKey& key, const Headers& headers, std::string_view body,
              std::optional<int64_t> now_s) {
  const std::string* id = FindHeader(headers, "webhook-id");
  const std::string* timestamp = FindHeader(headers, "webhook-timestamp");
  const std::string* signature = FindHeader(headers, "webhook-signature");
  std::string missing;
  for (auto [name, value] : {std::pair{"webhook-id", id},
                             {"webhook-timestamp", timestamp},
                             {"webhook-signature", signature}}) {
    if (!value || value->empty()) {
      missing += (missing.empty() ? "" : ", ") + std::string(name);
    }
  }
  if (!missing.empty()) {
    return {"missing-headers", "missing " + missing};
  }
  std::optional<int64_t> ts = ParseSeconds(*timestamp);
  if (!ts) {
    return {"bad-timestamp", "webhook-timestamp is not Unix seconds"};
  }
  // Like the reference libraries, the age before the signature: a replay is refused as such.
  if (int64_t age = now_s ? *now_s - *ts : 0; std::llabs(age) > kTimestampToleranceS) {
    return {"stale-timestamp", "webhook-timestamp is " + std::to_string(std::llabs(age)) +
                                   (age > 0 ? " s old" : " s ahead") + "; the tolerance is " +
                                   std::to_string(kTimestampToleranceS) + " s"};
  }
  if (key.kind == VerifyKey::Kind::kHmac) {
    if (!delivery::VerifyV1(key.bytes, *id, *ts, body, *signature)) {
      return {"bad-signature", "no v1, entry of webhook-signature matches the secret"};
    }
  } else if (!delivery::VerifyV1a(key.bytes, *id, *ts, body, *signature)) {
    return {"bad-signature", "no v1a, entry of webhook-signature verifies with the public key"};
  }
  return {};
}

int RunVerify(const std::optional<std::string>& secret,
              const std::optional<std::string>& public_key, const std::string& headers_file,
              const std::string& body_file) {
  auto usage = [](const std::string& message) {
    std::fprintf(stderr, "learnwire verify: %s\n", message.c_str());
    return kUsage;
  };
  auto key = ChooseKey(secret, public_key);
  if (!key.ok()) {
    return usage(key.status().message());
  }
  std::string error;
  std::optional<std::string> header_text = ReadFile(headers_file, error);
  if (!header_text) {
    return usage("--headers " + headers_file + ": " + error);
  }
  std::optional<std::string> body = ReadFile(body_file, error);
  if (!body) {
    return usage("--body " + body_file + ": " + error);
  }
  auto headers = ParseHeaderLines(*header_text);
  if (!headers.ok()) {
    return usage("--headers " + headers_file + ": " + headers.status().message());
  }
  Verdict verdict = Check(*key, *headers, *body, std::nullopt);
  if (!verdict.ok()) {
    std::fprintf(stderr, "learnwire verify: invalid (%s): %s\n", verdict.reason.c_str(),
                 verdict.detail.c_str());
    return kInvalid;
  }
  std::printf("valid\n");
  return 0;
}

}  // namespace learnwire::cli
