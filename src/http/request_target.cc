#include "http/request_target.h"

#include <boost/url/encoding_opts.hpp>
#include <boost/url/parse.hpp>

#include "core/ids.h"
#include "core/random.h"

namespace learnwire::http {
namespace {

constexpr std::size_t kMaxRequestIdLength = 64;
constexpr std::size_t kRequestIdRandomBytes = 16;

bool HasNul(std::string_view s) { return s.find('\0') != std::string_view::npos; }

}  // namespace

std::optional<DecodedTarget> DecodeTarget(std::string_view target) {
  auto parsed = boost::urls::parse_origin_form(target);
  if (!parsed) {
    return std::nullopt;
  }
  DecodedTarget out;
  out.path = parsed->path();
  if (HasNul(out.path)) {
    return std::nullopt;
  }
  boost::urls::encoding_opts opts;
  opts.space_as_plus = true;
  for (auto param : parsed->params(opts)) {
    if (HasNul(param.key) || HasNul(param.value)) {
      return std::nullopt;
    }
    out.query.emplace_back(std::move(param.key), std::move(param.value));
  }
  return out;
}

bool IsValidRequestId(std::string_view id) {
  if (id.empty() || id.size() > kMaxRequestIdLength) {
    return false;
  }
  for (char c : id) {
    bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '_' || c == '-';
    if (!ok) {
      return false;
    }
  }
  return true;
}

std::string NewRequestId() {
  std::string bytes = core::RandomBytes(kRequestIdRandomBytes);
  return core::Base32Crockford(reinterpret_cast<const unsigned char*>(bytes.data()), bytes.size());
}

}  // namespace learnwire::http
