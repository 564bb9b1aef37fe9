// The request pipeline: every API route passes through Route(), which applies, in API.md's
// order, authentication (401), scope (403), rate limit (429), media type (415), JSON syntax (400)
// and idempotency, then calls the resource handler.
#include <algorithm>
#include <boost/json.hpp>

#include "api/context.h"
#include "api/idempotency.h"
#include "api/key_cache.h"
#include "core/log.h"

namespace learnwire::api {
namespace json = boost::json;
using http::Problem;
using http::Response;

namespace {

constexpr int64_t kMaxAuthFailuresPerMinute = 20;
constexpr int64_t kTouchIntervalMs = 60'000;

bool HasScope(const domain::ApiKey& key, Access access) {
  auto has = [&](domain::Scope s) { return key.scopes.count(s) > 0; };
  switch (access) {
    case Access::kPublic:
      return true;
    case Access::kRead:
      return has(domain::Scope::kRead);
    case Access::kWrite:
      return has(domain::Scope::kWrite);
    case Access::kWebhooks:
      return has(domain::Scope::kWebhooks);
    case Access::kAdmin:
      return has(domain::Scope::kAdmin);
    case Access::kWebhooksOrRead:
      return has(domain::Scope::kWebhooks) || has(domain::Scope::kRead);
  }
  return false;
}

Response Unauthenticated(const std::string& detail) {
  Response r = Problem(401, "unauthenticated", detail);
  r.SetHeader("www-authenticate", "Bearer");
  return r;
}

Response TooManyFailures(const http::FailureCounter& failures, const std::string& addr) {
  Response r = Problem(429, "rate-limited", "too many failed authentications");
  r.SetHeader("retry-after", std::to_string(failures.RetryAfterSeconds(addr)));
  return r;
}

// Ok with the key, or the response to send (401/429).
std::variant<domain::ApiKey, Response> Authenticate(const http::Request& req, const Services& s) {
  const std::string& addr = req.client_addr.empty() ? req.remote_addr : req.client_addr;
  if (s.auth_failures->Exceeded(addr, kMaxAuthFailuresPerMinute)) {
    return TooManyFailures(*s.auth_failures, addr);
  }
  const std::string& header = req.Header("authorization");
  std::string presented;
  // The scheme name is case-insensitive (RFC 9110 §11.1).
  if (header.size() > 7 && domain::LowerAscii(header.substr(0, 7)) == "bearer ") {
    presented = header.substr(7);
    while (!presented.empty() && presented.front() == ' ') {
      presented.erase(0, 1);
    }
  }
  if (presented.empty()) {
    return Unauthenticated(header.empty() ? "an API key is required"
                                          : "use Authorization: Bearer <api key>");
  }
  std::optional<domain::ApiKey> key;
  core::Status st(core::Code::kUnauthenticated, "invalid API key");
  if (auto parsed = domain::ParsePresentedKey(presented)) {
    std::optional<domain::KeyRecord> record = s.key_cache->Get(parsed->key_id);
    if (!record) {
      int64_t read_at = core::ToUnixMs(s.clock->Now());
      st = s.store->Read([&](store::Tx& tx) -> core::Status {
        LW_ASSIGN_OR_RETURN(record, domain::LoadKeyRecord(tx, parsed->key_id));
        return core::Status::Ok();
      });
      if (record) {
        s.key_cache->Put(*record, read_at);
      } else if (st.code() == core::Code::kNotFound) {
        st = core::Status(core::Code::kUnauthenticated, "invalid API key");
      }
    }
    if (record) {
      auto checked = domain::CheckKey(*record, parsed->secret, core::ToUnixMs(s.clock->Now()));
      if (checked.ok()) {
        key = std::move(checked).value();
      } else {
        st = checked.status();
      }
    }
  }
  if (!key) {
    if (st.code() != core::Code::kUnauthenticated) {
      return ProblemFor(st, &req);
    }
    s.auth_failures->Add(addr);
    // The failure that goes past the limit is already answered 429.
    if (s.auth_failures->Exceeded(addr, kMaxAuthFailuresPerMinute)) {
      return TooManyFailures(*s.auth_failures, addr);
    }
    return Unauthenticated("the API key is invalid, revoked or expired");
  }
  int64_t now = core::ToUnixMs(s.clock->Now());
  if (!key->last_used_at || now - *key->last_used_at >= kTouchIntervalMs) {
    // last_used_at is written at most once a minute per key; a failure here is not the
    // request's failure.
    core::Status touched =
        s.store->Write([&](store::Tx& tx) { return domain::TouchKey(tx, *key, now); });
    if (!touched.ok()) {
      core::Log(core::LogLevel::kWarn, "could not record key use",
                {{"key_id", key->id}, {"error", touched.message()}});
    } else {
      s.key_cache->NoteUsed(key->id, now);
    }
  }
  return *key;
}

bool IsJsonMediaType(const std::string& content_type) {
  std::string media = content_type.substr(0, content_type.find(';'));
  while (!media.empty() && media.back() == ' ') {
    media.pop_back();
  }
  return domain::LowerAscii(media) == "application/json";
}

// Parses the body: 415 for a non-JSON media type, 400 for invalid UTF-8, syntax or depth.
std::optional<Response> ParseBody(const http::Request& req, json::value& out) {
  if (req.body.empty()) {
    out = json::object();
    return std::nullopt;
  }
  if (!IsJsonMediaType(req.Header("content-type"))) {
    return Problem(415, "unsupported-media-type", "the body must be application/json");
  }
  json::parse_options opts;
  opts.max_depth = 64;
  boost::system::error_code ec;
  out = json::parse(req.body, ec, {}, opts);
  if (ec) {
    return Problem(400, "malformed", "the body is not valid JSON: " + ec.message());
  }
  return std::nullopt;
}

}  // namespace

domain::WriteContext RequestContext::Write() const {
  domain::WriteContext w;
  w.deps = {services.ids, services.clock, services.delivery_listener};
  w.organization_id = key->organization_id;
  w.actor = {"api_key", key->id};
  return w;
}

Response Json(int status, const json::value& body) {
  return http::JsonResponse(status, json::serialize(body));
}

Response ProblemFor(const core::Status& s, const http::Request* req) {
  switch (s.code()) {
    case core::Code::kOk:
      return Problem(500, "internal", "an ok status reached the error path");
    case core::Code::kInvalidArgument:
      return s.fields().empty() ? Problem(400, "malformed", s.message())
                                : Problem(422, "validation", s.message(), s.fields());
    case core::Code::kNotFound:
      return Problem(404, "not-found", s.message());
    case core::Code::kConflict:
      return Problem(409, s.problem_type().empty() ? "conflict" : s.problem_type(), s.message());
    case core::Code::kUnauthenticated:
      return Unauthenticated(s.message());
    case core::Code::kPermissionDenied:
      return Problem(403, "forbidden", s.message());
    case core::Code::kUnavailable:
    case core::Code::kDeadlineExceeded:
    case core::Code::kInternal:
      break;
  }
  std::string request_id = req ? req->request_id : "";
  core::Log(core::LogLevel::kError, "request failed",
            {{"request_id", request_id}, {"error", s.message()}});
  return Problem(500, "internal", "request id: " + request_id);
}

void Route(http::Router& router, const Services& services, const std::string& method,
           const std::string& pattern, Access access, Handler handler) {
  const Services* s = &services;
  router.Add(
      method, pattern, [s, access, method, handler = std::move(handler)](http::Request& req) {
        RequestContext ctx{req, *s, std::nullopt, json::value()};
        Response resp;
        std::optional<http::RateLimiter::Decision> limit;
        auto finish = [&](Response r) {
          if (limit && s->rate_limiter->enabled()) {
            r.SetHeader("x-ratelimit-limit", std::to_string(s->rate_limiter->rate_per_s()));
            r.SetHeader("x-ratelimit-remaining", std::to_string(limit->remaining));
          }
          return r;
        };
        if (access != Access::kPublic) {
          auto auth = Authenticate(req, *s);
          if (auto* r = std::get_if<Response>(&auth)) {
            return std::move(*r);
          }
          ctx.key = std::get<domain::ApiKey>(std::move(auth));
          limit = s->rate_limiter->Take(ctx.key->id);
          if (!HasScope(*ctx.key, access)) {
            return finish(
                Problem(403, "forbidden", "the API key lacks the scope for this endpoint"));
          }
          if (!limit->allowed) {
            Response r = Problem(429, "rate-limited", "rate limit exceeded for this API key");
            r.SetHeader("retry-after", std::to_string(limit->retry_after_s));
            return finish(std::move(r));
          }
        }
        if (req.body_too_large) {
          return finish(Problem(413, "payload-too-large", "the request body is too large"));
        }
        if (auto bad = ParseBody(req, ctx.body)) {
          return finish(std::move(*bad));
        }
        if (method == "POST" && ctx.key && req.HasHeader("idempotency-key")) {
          return finish(WithIdempotency(ctx, handler));
        }
        return finish(handler(ctx));
      });
}

}  // namespace learnwire::api

namespace learnwire::api {

http::Response RequestContext::Commit(
    const std::function<core::Result<http::Response>(store::Tx&)>& fn) {
  http::Response out;
  core::Status st = services.store->Write([&](store::Tx& tx) -> core::Status {
    LW_ASSIGN_OR_RETURN(out, fn(tx));
    if (idempotency) {
      LW_RETURN_IF_ERROR(SaveIdempotentResponse(tx, *idempotency, out, Now()));
    }
    return core::Status::Ok();
  });
  if (!st.ok()) {
    if (idempotency) {
      idempotency->stored = false;
    }
    return Fail(st);
  }
  return out;
}

void RequestContext::SetReplayBody(std::string body) {
  if (idempotency) {
    idempotency->replay_body = std::move(body);
  }
}

void RequestContext::ShowSecretOnce(json::object& body, const char* field,
                                    const std::string& secret) {
  body[field] = "********";
  SetReplayBody(json::serialize(body));
  body[field] = secret;
}

http::Response RequestContext::Query(
    const std::function<core::Result<http::Response>(store::Tx&)>& fn) {
  http::Response out;
  core::Status st = services.store->Read([&](store::Tx& tx) -> core::Status {
    LW_ASSIGN_OR_RETURN(out, fn(tx));
    return core::Status::Ok();
  });
  return st.ok() ? out : Fail(st);
}

core::Result<const boost::json::object*> BodyObject(const RequestContext& ctx) {
  if (!ctx.body.is_object()) {
    return core::Status::Invalid("", "the body must be a JSON object");
  }
  return &ctx.body.get_object();
}

core::Status OnlyFields(const boost::json::object& body, std::initializer_list<const char*> allowed,
                        const std::string& what) {
  std::vector<core::FieldError> errors;
  for (const auto& kv : body) {
    if (std::find_if(allowed.begin(), allowed.end(),
                     [&](const char* a) { return kv.key() == a; }) == allowed.end()) {
      errors.push_back({std::string(kv.key()), "is not a parameter of " + what});
    }
  }
  return errors.empty() ? core::Status::Ok() : core::Status::Invalid(std::move(errors));
}

}  // namespace learnwire::api
