// The API layer's shared pieces: the services every handler may use (built once by app/), the
// per-request context, and the one place a Status becomes problem+json.
#pragma once

#include <atomic>
#include <boost/json/value.hpp>
#include <functional>
#include <initializer_list>
#include <memory>
#include <optional>
#include <set>
#include <string>

#include "core/clock.h"
#include "core/ids.h"
#include "core/status.h"
#include "domain/common.h"
#include "domain/identity.h"
#include "events/fanout.h"
#include "http/message.h"
#include "http/metrics.h"
#include "http/problem.h"
#include "http/rate_limiter.h"
#include "http/router.h"
#include "store/store.h"

namespace learnwire::delivery {
class Dispatcher;
struct WebhookRules;
}  // namespace learnwire::delivery

namespace learnwire::api {

// Long-lived collaborators, owned by app/. Thread-safe.
struct Services {
  store::Store* store = nullptr;
  const core::Clock* clock = nullptr;
  core::IdGenerator* ids = nullptr;
  http::Metrics* metrics = nullptr;
  http::RateLimiter* rate_limiter = nullptr;
  http::FailureCounter* auth_failures = nullptr;
  class KeyCache* key_cache = nullptr;
  events::DeliveryListener* delivery_listener = nullptr;  // the dispatcher's wake-up
  const delivery::WebhookRules* webhook_rules = nullptr;
  delivery::Dispatcher* dispatcher = nullptr;   // null where no dispatcher runs
  class AttemptSlots* attempt_slots = nullptr;  // /test and /retry per organization
  std::string cursor_key;                       // HMAC key for list cursors (per installation)
  int64_t retention_days = 30;  // events older than this are gone: `after` them is 410
  std::string openapi_json;     // the document served at /openapi.json
  std::string web_root;         // when set, /docs files are read from here first
  // api/event-types.json, the catalog served at /api/v1/event-types
  std::string event_types_json;
  // Files built into the binary, by served name ("docs/swagger-ui.css").
  std::function<std::optional<std::string_view>(std::string_view)> asset;
  std::function<bool()> ready;            // extra readiness (worker loop); null = always
  std::function<void()> refresh_metrics;  // run before each /metrics rendering
};

http::Response ProblemFor(const core::Status& status, const http::Request* req);

// What a handler knows about the request once it passed auth and body parsing.
struct RequestContext {
  http::Request& req;
  const Services& services;
  std::optional<domain::ApiKey> key;  // the authenticated credential
  boost::json::value body;            // parsed JSON ({} when no body)

  struct Idempotency* idempotency = nullptr;  // set while an Idempotency-Key is being served

  const std::string& org() const { return key->organization_id; }
  // Runs a write transaction whose function builds the response; an error Status becomes
  // problem+json. With an Idempotency-Key the response is stored in the same transaction.
  http::Response Commit(const std::function<core::Result<http::Response>(store::Tx&)>& fn);
  // The same for reads.
  http::Response Query(const std::function<core::Result<http::Response>(store::Tx&)>& fn);
  http::Response Fail(const core::Status& status) const { return ProblemFor(status, &req); }
  // A response holding a secret shown once: an idempotent replay returns `body` instead.
  void SetReplayBody(std::string body);
  // Puts `secret` into `body[field]` for this response only: an idempotent replay of the request
  // shows "********" there instead.
  void ShowSecretOnce(boost::json::object& body, const char* field, const std::string& secret);
  domain::WriteContext Write() const;
  int64_t Now() const { return core::ToUnixMs(services.clock->Now()); }
};

using Handler = std::function<http::Response(RequestContext&)>;

enum class Access { kPublic, kRead, kWrite, kWebhooks, kAdmin, kWebhooksOrRead };

// Registers a route whose handler gets auth, scope, rate limit, body parsing and idempotency
// (POST with Idempotency-Key) applied first, in the order API.md lists.
void Route(http::Router& router, const Services& services, const std::string& method,
           const std::string& pattern, Access access, Handler handler);

// The one mapping from Status to problem+json. A 5xx is logged in full with the request id and
// answered with the id only.
http::Response ProblemFor(const core::Status& status, const http::Request* req);
http::Response Json(int status, const boost::json::value& body);

// The request body as an object, or a 422 saying it must be one.
core::Result<const boost::json::object*> BodyObject(const RequestContext& ctx);
// A 422 naming every body field that is not one of `allowed` ("is not a parameter of `what`").
core::Status OnlyFields(const boost::json::object& body, std::initializer_list<const char*> allowed,
                        const std::string& what);

}  // namespace learnwire::api
