#include "api/list.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <boost/json.hpp>
#include <charconv>

#include "core/ids.h"
#include "core/json_text.h"
#include "core/time_format.h"

namespace learnwire::api {
namespace json = boost::json;

namespace {

constexpr std::size_t kMacBytes = 16;

std::string Base64Url(const std::string& in) {
  std::string out(4 * ((in.size() + 2) / 3) + 1, '\0');
  int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                          reinterpret_cast<const unsigned char*>(in.data()),
                          static_cast<int>(in.size()));
  out.resize(n);
  while (!out.empty() && out.back() == '=') {
    out.pop_back();
  }
  for (char& c : out) {
    c = c == '+' ? '-' : c == '/' ? '_' : c;
  }
  return out;
}

std::optional<std::string> FromBase64Url(std::string s) {
  for (char& c : s) {
    if (c == '-') {
      c = '+';
    } else if (c == '_') {
      c = '/';
    } else if (!std::isalnum(static_cast<unsigned char>(c))) {
      return std::nullopt;
    }
  }
  std::size_t pad = (4 - s.size() % 4) % 4;
  if (pad == 3) {
    return std::nullopt;
  }
  s.append(pad, '=');
  std::string out(s.size() / 4 * 3, '\0');
  int n =
      EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                      reinterpret_cast<const unsigned char*>(s.data()), static_cast<int>(s.size()));
  if (n < 0) {
    return std::nullopt;
  }
  out.resize(static_cast<std::size_t>(n) - pad);
  return out;
}

std::string Mac(const std::string& key, const std::string& data) {
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
       reinterpret_cast<const unsigned char*>(data.data()), data.size(), out, &len);
  return std::string(reinterpret_cast<char*>(out), kMacBytes);
}

std::string PercentEncode(const std::string& s) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out.push_back(static_cast<char>(c));
    } else {
      out.push_back('%');
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 15]);
    }
  }
  return out;
}

core::Status BadParam(const std::string& name, const std::string& why) {
  return core::InvalidArgument("query parameter " + name + ": " + why);
}

}  // namespace

std::string PageLink(const RequestContext& ctx, const std::string& cursor) {
  std::string out = ctx.req.path + "?";
  for (const auto& [k, v] : ctx.req.query) {
    if (k != "cursor") {
      out += PercentEncode(k) + "=" + PercentEncode(v) + "&";
    }
  }
  return out + "cursor=" + cursor;
}

namespace {

char OrderCode(domain::ListOrder order) {
  switch (order) {
    case domain::ListOrder::kById:
      return 'i';
    case domain::ListOrder::kByUpdated:
      return 'u';
    case domain::ListOrder::kBySeq:
      return 's';
  }
  return '?';
}

std::string CursorScope(const RequestContext& ctx) {
  return ctx.req.path + "|" + (ctx.key ? ctx.key->organization_id : "");
}

}  // namespace

// The signed text is "<n|p><order>|<number>|<id>"; the MAC also covers the scope, which is not
// carried (the server knows it from the request).
std::string EncodeCursor(const std::string& key, const std::string& scope,
                         const domain::ListCursor& c, domain::ListOrder order) {
  std::string data = std::string(c.forward ? "n" : "p") + OrderCode(order) + "|" +
                     std::to_string(c.number) + "|" + c.id;
  return Base64Url(data + Mac(key, scope + "\n" + data));
}

std::optional<domain::ListCursor> DecodeCursor(const std::string& key, const std::string& scope,
                                               const std::string& text, domain::ListOrder order) {
  if (text.size() > 512) {
    return std::nullopt;
  }
  auto raw = FromBase64Url(text);
  if (!raw || raw->size() <= kMacBytes) {
    return std::nullopt;
  }
  std::string data = raw->substr(0, raw->size() - kMacBytes);
  std::string mac = raw->substr(raw->size() - kMacBytes);
  std::string want = Mac(key, scope + "\n" + data);
  if (CRYPTO_memcmp(mac.data(), want.data(), kMacBytes) != 0) {
    return std::nullopt;
  }
  std::size_t bar1 = data.find('|');
  std::size_t bar2 = data.find('|', bar1 + 1);
  if (bar1 != 2 || bar2 == std::string::npos || data[1] != OrderCode(order) ||
      (data[0] != 'n' && data[0] != 'p')) {
    return std::nullopt;
  }
  domain::ListCursor c;
  c.forward = data[0] == 'n';
  std::string number = data.substr(bar1 + 1, bar2 - bar1 - 1);
  auto [p, ec] = std::from_chars(number.data(), number.data() + number.size(), c.number);
  if (ec != std::errc() || p != number.data() + number.size()) {
    return std::nullopt;
  }
  c.id = data.substr(bar2 + 1);
  return c;
}

core::Result<ListParams> ParseListParams(const RequestContext& ctx,
                                         const std::set<std::string>& filters,
                                         bool with_time_params, domain::ListOrder order) {
  ListParams out;
  out.order = order;
  std::set<std::string> seen;
  std::optional<std::string> cursor_text;
  for (const auto& [k, v] : ctx.req.query) {
    if (!seen.insert(k).second) {
      return BadParam(k, "given more than once");
    }
    if (k == "limit") {
      int n = 0;
      auto [p, ec] = std::from_chars(v.data(), v.data() + v.size(), n);
      if (v.empty() || ec != std::errc() || p != v.data() + v.size() || n < 1 || n > 500) {
        return BadParam(k, "must be an integer from 1 to 500");
      }
      out.limit = n;
    } else if (k == "cursor") {
      cursor_text = v;
    } else if (k == "count") {
      if (v != "exact") {
        return BadParam(k, "the only value is \"exact\"");
      }
      out.exact_count = true;
    } else if (with_time_params && k == "updated_since") {
      auto t = core::ParseTime(v);
      if (!t) {
        return BadParam(k, "must be an RFC 3339 time");
      }
      out.updated_since = *t;
    } else if (with_time_params && k == "include_deleted") {
      if (v != "true" && v != "false") {
        return BadParam(k, "must be true or false");
      }
      out.include_deleted = v == "true";
    } else if (filters.count(k)) {
      if (v.size() > 1000) {
        return BadParam(k, "is too long");
      }
      out.filters[k] = v;
    } else {
      return BadParam(k, "is not a parameter of this list");
    }
  }
  if (out.updated_since) {
    out.order = domain::ListOrder::kByUpdated;
  }
  if (cursor_text) {
    out.cursor = DecodeCursor(ctx.services.cursor_key, CursorScope(ctx), *cursor_text, out.order);
    if (!out.cursor) {
      return BadParam("cursor", "was not issued by this server for this list");
    }
  }
  return out;
}

http::Response RenderList(const RequestContext& ctx, const ListParams& params,
                          const domain::ListPage& page) {
  std::optional<std::string> next, previous;
  if (!page.items.empty()) {
    if (page.more_after) {
      domain::ListCursor c = page.items.back().position;
      c.forward = true;
      next =
          PageLink(ctx, EncodeCursor(ctx.services.cursor_key, CursorScope(ctx), c, params.order));
    }
    if (page.more_before) {
      domain::ListCursor c = page.items.front().position;
      c.forward = false;
      previous =
          PageLink(ctx, EncodeCursor(ctx.services.cursor_key, CursorScope(ctx), c, params.order));
    }
  }
  std::size_t size = 600;
  for (const auto& item : page.items) {
    size += item.json.size() + 1;
  }
  std::string body;
  body.reserve(size);
  core::JsonObjectWriter w(body);
  if (page.count) {
    w.Int("count", *page.count);
  } else {
    w.Raw("count", "null");
  }
  w.OptString("next", next).OptString("previous", previous);
  // The results array is written in place: the items are JSON text already.
  body += ",\"results\":[";
  for (std::size_t i = 0; i < page.items.size(); ++i) {
    if (i > 0) {
      body.push_back(',');
    }
    body += page.items[i].json;
  }
  body += "]}";
  return http::JsonResponse(200, std::move(body));
}

}  // namespace learnwire::api
