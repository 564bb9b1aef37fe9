// libFuzzer target: arbitrary request targets and bodies through the real routes (URL decoding,
// routing, authentication, body parsing, validation, the domain, subscriptions and the delivery
// audit, SQLite :memory:). Any 5xx, any response that is not JSON, or a crash is a finding. No
// dispatcher runs (and no DNS is asked): /test and /retry are left out.
//
// Input: byte 0 picks the operation, byte 1 the credential, the rest splits at the first 0x00
// into a query string (or path suffix) and a body.
#include <boost/json.hpp>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <string>

#include "api/context.h"
#include "api/key_cache.h"
#include "api/resources.h"
#include "core/clock.h"
#include "core/ids.h"
#include "delivery/webhooks.h"
#include "domain/identity.h"
#include "http/message.h"
#include "http/request_target.h"
#include "http/router.h"
#include "store/store.h"

namespace {

using namespace learnwire;

struct Harness {
  core::ManualClock clock;
  core::IdGenerator ids{clock};
  std::unique_ptr<store::Store> db;
  http::Metrics metrics;
  http::RateLimiter limiter{0, clock};
  http::FailureCounter failures{clock};
  api::KeyCache key_cache{clock};
  api::Services services;
  http::Router router;
  delivery::WebhookRules webhook_rules;
  std::string admin_key, read_key, learner_id, webhook_id;

  Harness() {
    auto opened = store::OpenMigratedSqlite({":memory:"});
    if (!opened.ok()) {
      std::abort();
    }
    db = std::move(opened).value();
    core::Status st = db->Write([&](store::Tx& tx) -> core::Status {
      LW_ASSIGN_OR_RETURN(domain::CreatedOrganization org,
                          domain::CreateOrganization(tx, {&ids, &clock}, "Fuzz", "f@z.io",
                                                     domain::AdminSecret{"pw", "h"}));
      admin_key = org.first_key.secret_key;
      LW_ASSIGN_OR_RETURN(domain::CreatedKey read,
                          domain::CreateKey(tx, {&ids, &clock}, org.organization.id, "r",
                                            {domain::Scope::kRead}, std::nullopt));
      read_key = read.secret_key;
      return core::Status::Ok();
    });
    if (!st.ok()) {
      std::abort();
    }
    services.store = db.get();
    services.clock = &clock;
    services.ids = &ids;
    services.metrics = &metrics;
    services.rate_limiter = &limiter;
    services.auth_failures = &failures;
    services.key_cache = &key_cache;
    services.cursor_key = "fuzz";
    webhook_rules.guard.allowed_private_networks = {*core::ParseCidr("127.0.0.0/8")};
    webhook_rules.resolve = [](const std::string&) {
      return core::Result<std::vector<core::IpAddress>>(core::Unavailable("no DNS here"));
    };
    services.webhook_rules = &webhook_rules;
    api::RegisterLearners(router, services);
    api::RegisterEvents(router, services);
    api::RegisterApiKeys(router, services);
    api::RegisterWebhooks(router, services);
    api::RegisterDeliveries(router, services);
    http::Response created = Send("POST", "/api/v1/learners", admin_key,
                                  R"({"email":"seed@x.io","firstname":"S","lastname":"E"})");
    learner_id = std::string(boost::json::parse(created.body).at("id").as_string());
    http::Response webhook =
        Send("POST", "/api/v1/webhooks", admin_key,
             R"({"name":"fuzz","url":"http://127.0.0.1:9/hook","headers":{"X-A":"b"},)"
             R"("basic_auth":{"username":"u","password":"p"}})");
    webhook_id = std::string(boost::json::parse(webhook.body).at("id").as_string());
  }

  http::Response Send(const std::string& method, const std::string& target, const std::string& key,
                      const std::string& body) {
    http::Request req;
    req.method = method;
    req.target = target;
    auto decoded = http::DecodeTarget(target);
    if (!decoded) {
      return http::Problem(400, "malformed", "bad target");  // what the server answers
    }
    req.path = decoded->path;
    req.query = decoded->query;
    req.remote_addr = "192.0.2.1";
    req.request_id = "fuzz";
    req.body = body;
    if (!key.empty()) {
      req.headers.emplace("authorization", "Bearer " + key);
    }
    if (!body.empty()) {
      req.headers.emplace("content-type", "application/json");
    }
    auto match = router.Find(req.method, req.path);
    if (match.kind != http::Router::Match::Kind::kFound) {
      return http::Problem(404, "not-found", "");
    }
    req.params = match.params;
    return (*match.handler)(req);
  }
};

Harness& Get() {
  static Harness* h = new Harness();  // lives for the whole fuzzing run
  return *h;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 2) {
    return 0;
  }
  Harness& h = Get();
  std::string rest(reinterpret_cast<const char*>(data) + 2, size - 2);
  std::size_t zero = rest.find('\0');
  std::string query = rest.substr(0, zero);
  std::string body = zero == std::string::npos ? "" : rest.substr(zero + 1);
  const std::string& key = data[1] % 3 == 0 ? h.admin_key : data[1] % 3 == 1 ? h.read_key : query;
  std::string lrn = "/api/v1/learners/" + h.learner_id;
  http::Response r;
  std::string wh = "/api/v1/webhooks/" + h.webhook_id;
  switch (data[0] % 16) {
    case 0:
      r = h.Send("POST", "/api/v1/learners", key, body);
      break;
    case 1:
      r = h.Send("POST", "/api/v1/learners/bulk", key, body);
      break;
    case 2:
      r = h.Send("PATCH", lrn, key, body);
      break;
    case 3:
      r = h.Send("PUT", lrn, key, body);
      break;
    case 4:
      r = h.Send("GET", "/api/v1/learners?" + query, key, "");
      break;
    case 5:
      r = h.Send("GET", "/api/v1/events?" + query, key, "");
      break;
    case 6:
      r = h.Send("POST", "/api/v1/api-keys", key, body);
      break;
    case 7:
      r = h.Send("GET", "/api/v1/learners/" + query, key, "");
      break;
    case 8:
      r = h.Send("POST", lrn + "/ban", key, body);
      break;
    case 9:
      r = h.Send("POST", "/api/v1/webhooks", key, body);
      break;
    case 10:
      r = h.Send("PATCH", wh, key, body);
      break;
    case 11:
      r = h.Send("PUT", wh, key, body);
      break;
    case 12:
      r = h.Send("POST", wh + "/replay", key, body);
      break;
    case 13:
      r = h.Send("GET", "/api/v1/deliveries?" + query, key, "");
      break;
    case 14:
      r = h.Send("GET", wh + "/deliveries?" + query, key, "");
      break;
    default:
      r = h.Send("GET", "/api/v1/api-keys?" + query, key, "");
      break;
  }
  if (r.status >= 500) {
    std::fprintf(stderr, "5xx: %d %s\n", r.status, r.body.c_str());
    std::abort();
  }
  if (!r.body.empty()) {
    boost::system::error_code ec;
    boost::json::parse(r.body, ec);
    if (ec) {
      std::fprintf(stderr, "response is not JSON: %s\n", r.body.c_str());
      std::abort();
    }
  }
  return 0;
}
