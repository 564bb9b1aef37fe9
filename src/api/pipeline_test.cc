// The request pipeline (auth, scope, rate limits, body parsing) and Idempotency-Key, driven
// through the real routes with http::Request values: no sockets, a manual clock, SQLite :memory:.
#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <chrono>
#include <map>
#include <memory>
#include <string>

#include "api/context.h"
#include "api/key_cache.h"
#include "api/resources.h"
#include "core/clock.h"
#include "core/ids.h"
#include "core/random.h"
#include "domain/identity.h"
#include "domain/learners.h"
#include "http/message.h"
#include "http/metrics.h"
#include "http/rate_limiter.h"
#include "http/router.h"
#include "store/store.h"

namespace learnwire::api {
namespace {

namespace json = boost::json;
using std::chrono::hours;
using std::chrono::milliseconds;
using std::chrono::seconds;

constexpr const char* kLearnerBody =
    R"({"email": "ann@x.io", "firstname": "Ann", "lastname": "Lee"})";

std::string Header(const http::Response& r, const char* name) {
  const std::string* v = r.FindHeader(name);
  return v ? *v : "<absent>";
}

// The last segment of a problem's type ("unauthenticated"), or "" when the body is not one.
std::string ProblemType(const http::Response& r) {
  boost::system::error_code ec;
  json::value v = json::parse(r.body, ec);
  if (ec || !v.is_object() || !v.as_object().contains("type")) {
    return "";
  }
  std::string type(v.at("type").as_string());
  return type.substr(type.rfind('/') + 1);
}

struct Call {
  Call(std::string method_in, std::string path_in, std::string key_in = "",
       std::string body_in = "")
      : method(std::move(method_in)),
        path(std::move(path_in)),
        key(std::move(key_in)),
        body(std::move(body_in)) {}
  std::string method;
  std::string path;
  std::string key;  // the API key; "" sends no authorization header
  std::string body;
  std::map<std::string, std::string> headers;  // extra or overriding headers
  std::string remote_addr = "192.0.2.1";
  bool body_too_large = false;
};

class ApiTest : public ::testing::Test {
 protected:
  virtual int64_t Rate() const { return 0; }

  void SetUp() override {
    auto opened = store::OpenMigratedSqlite({":memory:"});
    ASSERT_TRUE(opened.ok()) << opened.status().message();
    db_ = std::move(opened).value();
    ASSERT_TRUE(
        db_->Write([&](store::Tx& tx) -> core::Status {
             LW_ASSIGN_OR_RETURN(domain::CreatedOrganization org,
                                 domain::CreateOrganization(tx, {&ids_, &clock_}, "Org", "a@b.io",
                                                            domain::AdminSecret{"pw", "h"}));
             org_id_ = org.organization.id;
             admin_key_ = org.first_key.secret_key;
             admin_key_id_ = org.first_key.key.id;
             LW_ASSIGN_OR_RETURN(domain::CreatedKey read,
                                 domain::CreateKey(tx, {&ids_, &clock_}, org_id_, "read only",
                                                   {domain::Scope::kRead}, std::nullopt));
             read_key_ = read.secret_key;
             return core::Status::Ok();
           })
            .ok());
    limiter_ = std::make_unique<http::RateLimiter>(Rate(), clock_);
    failures_ = std::make_unique<http::FailureCounter>(clock_);
    key_cache_ = std::make_unique<KeyCache>(clock_);
    services_.store = db_.get();
    services_.clock = &clock_;
    services_.ids = &ids_;
    services_.metrics = &metrics_;
    services_.rate_limiter = limiter_.get();
    services_.auth_failures = failures_.get();
    services_.key_cache = key_cache_.get();
    services_.cursor_key = "k";
    RegisterOperations(router_, services_, false);
    RegisterLearners(router_, services_);
    RegisterEvents(router_, services_);
    RegisterApiKeys(router_, services_);
  }

  http::Response Send(const Call& c) {
    http::Request req;
    req.method = c.method;
    req.target = c.path;
    req.path = c.path;
    req.remote_addr = c.remote_addr;
    req.request_id = "req-test";
    req.body = c.body;
    req.body_too_large = c.body_too_large;
    if (!c.key.empty()) {
      req.headers.emplace("authorization", "Bearer " + c.key);
    }
    if (!c.body.empty() && !c.headers.count("content-type")) {
      req.headers.emplace("content-type", "application/json");
    }
    for (const auto& [k, v] : c.headers) {
      req.headers.emplace(k, v);
    }
    http::Router::Match m = router_.Find(req.method, req.path);
    EXPECT_EQ(m.kind, http::Router::Match::Kind::kFound) << c.method << " " << c.path;
    if (m.kind != http::Router::Match::Kind::kFound) {
      return {};
    }
    req.params = m.params;
    return (*m.handler)(req);
  }

  http::Response PostLearner(const std::string& body = kLearnerBody,
                             const std::string& idempotency_key = "") {
    Call c{"POST", "/api/v1/learners", admin_key_, body};
    if (!idempotency_key.empty()) {
      c.headers["idempotency-key"] = idempotency_key;
    }
    return Send(c);
  }

  // A learner made directly in the store (no request, no rate-limit token).
  std::string SeedLearner() {
    std::string id;
    EXPECT_TRUE(db_->Write([&](store::Tx& tx) -> core::Status {
                     domain::WriteContext w;
                     w.deps = {&ids_, &clock_};
                     w.organization_id = org_id_;
                     LW_ASSIGN_OR_RETURN(
                         domain::Learner l,
                         domain::CreateLearner(tx, w, json::parse(kLearnerBody).as_object()));
                     id = l.id;
                     return core::Status::Ok();
                   })
                    .ok());
    return id;
  }

  int64_t CountRows(const std::string& table) {
    int64_t n = -1;
    EXPECT_TRUE(db_->Read([&](store::Tx& tx) -> core::Status {
                     LW_ASSIGN_OR_RETURN(store::Rows rows,
                                         tx.Query("SELECT COUNT(*) AS n FROM " + table));
                     n = rows[0].Int("n");
                     return core::Status::Ok();
                   })
                    .ok());
    return n;
  }

  std::string UnknownKey() { return "lw_" + ids_.NewBody() + "_" + std::string(43, 'A'); }

  core::ManualClock clock_;
  core::IdGenerator ids_{clock_};
  std::unique_ptr<store::Store> db_;
  http::Metrics metrics_;
  std::unique_ptr<http::RateLimiter> limiter_;
  std::unique_ptr<http::FailureCounter> failures_;
  std::unique_ptr<KeyCache> key_cache_;
  Services services_;
  http::Router router_;
  std::string org_id_;
  std::string admin_key_, admin_key_id_, read_key_;
};

// ---------------------------------------------------------------------------------------------
// Operations

TEST_F(ApiTest, ReadyzIs503WhileTheDispatcherLoopIsStalled) {
  EXPECT_EQ(Send({"GET", "/readyz"}).status, 200);  // no dispatcher check wired
  bool looping = false;
  services_.ready = [&looping] { return looping; };
  http::Response stalled = Send({"GET", "/readyz"});
  EXPECT_EQ(stalled.status, 503);
  EXPECT_NE(stalled.body.find("worker loop"), std::string::npos) << stalled.body;
  looping = true;
  EXPECT_EQ(Send({"GET", "/readyz"}).status, 200);
}

// ---------------------------------------------------------------------------------------------
// Authentication and scopes

TEST_F(ApiTest, MissingKeyIs401WithWwwAuthenticate) {
  http::Response r = Send({"POST", "/api/v1/learners", "", kLearnerBody});
  EXPECT_EQ(r.status, 401);
  EXPECT_EQ(Header(r, "www-authenticate"), "Bearer");
  EXPECT_EQ(ProblemType(r), "unauthenticated");
  EXPECT_EQ(Header(r, "content-type"), "application/problem+json");
  EXPECT_EQ(CountRows("learners"), 0);
}

TEST_F(ApiTest, MalformedAuthorizationIs401WithWwwAuthenticate) {
  const std::string kHeaders[] = {
      "Basic YTpi",      "Bearer",
      "Bearer ",         "Token " + admin_key_,
      "Bearer nonsense", "Bearer " + admin_key_.substr(0, admin_key_.size() - 1),
      admin_key_,
  };
  for (const auto& h : kHeaders) {
    Call c{"GET", "/api/v1/events"};
    c.headers["authorization"] = h;
    http::Response r = Send(c);
    EXPECT_EQ(r.status, 401) << "'" << h << "'";
    EXPECT_EQ(Header(r, "www-authenticate"), "Bearer") << "'" << h << "'";
  }
}

TEST_F(ApiTest, BearerSchemeIsCaseInsensitive) {
  Call c{"GET", "/api/v1/events"};
  c.headers["authorization"] = "bearer " + admin_key_;
  EXPECT_EQ(Send(c).status, 200);
}

TEST_F(ApiTest, UnknownKeyIs401WithWwwAuthenticate) {
  http::Response r = Send({"GET", "/api/v1/events", UnknownKey()});
  EXPECT_EQ(r.status, 401);
  EXPECT_EQ(Header(r, "www-authenticate"), "Bearer");
}

TEST_F(ApiTest, RevokedKeyIs401AtOnce) {
  http::Response created = Send({"POST", "/api/v1/api-keys", admin_key_, R"({"name": "temp"})"});
  ASSERT_EQ(created.status, 201) << created.body;
  json::object k = json::parse(created.body).as_object();
  std::string secret(k.at("key").as_string());
  std::string id(k.at("id").as_string());
  EXPECT_EQ(Send({"GET", "/api/v1/events", secret}).status, 200);
  EXPECT_EQ(Send({"DELETE", "/api/v1/api-keys/" + id, admin_key_}).status, 204);
  http::Response r = Send({"GET", "/api/v1/events", secret});
  EXPECT_EQ(r.status, 401);
  EXPECT_EQ(Header(r, "www-authenticate"), "Bearer");
}

TEST_F(ApiTest, ReadOnlyKeyIs403OnPost) {
  http::Response r = Send({"POST", "/api/v1/learners", read_key_, kLearnerBody});
  EXPECT_EQ(r.status, 403);
  EXPECT_EQ(ProblemType(r), "forbidden");
  EXPECT_EQ(CountRows("learners"), 0);
}

TEST_F(ApiTest, ReadOnlyKeyCanGet) {
  std::string id = SeedLearner();
  EXPECT_EQ(Send({"GET", "/api/v1/learners/" + id, read_key_}).status, 200);
}

TEST_F(ApiTest, KeyWithoutAdminScopeIs403OnApiKeys) {
  EXPECT_EQ(Send({"GET", "/api/v1/api-keys", read_key_}).status, 403);
}

// ---------------------------------------------------------------------------------------------
// Failed authentications per client address (more than 20 a minute -> 429)

TEST_F(ApiTest, AfterMoreThan20FailedAuthenticationsTheAddressGets429EvenWithAValidKey) {
  const std::string addr = "198.51.100.7";
  for (int i = 0; i < 21; ++i) {
    Call c{"GET", "/api/v1/events", UnknownKey()};
    c.remote_addr = addr;
    Send(c);
  }
  Call valid{"GET", "/api/v1/events", admin_key_};
  valid.remote_addr = addr;
  http::Response r = Send(valid);
  EXPECT_EQ(r.status, 429);
  EXPECT_EQ(ProblemType(r), "rate-limited");
  EXPECT_NE(Header(r, "retry-after"), "<absent>");
}

// FailureCounter's documented rule (http/rate_limiter.h): "after a failure, Add(key) and refuse
// when Exceeded(key, N) now holds" — the 21st failed authentication is itself answered 429.
TEST_F(ApiTest, The21stFailedAuthenticationIsAnswered429) {
  const std::string addr = "198.51.100.8";
  for (int i = 1; i <= 21; ++i) {
    Call c{"GET", "/api/v1/events", UnknownKey()};
    c.remote_addr = addr;
    http::Response r = Send(c);
    EXPECT_EQ(r.status, i <= 20 ? 401 : 429) << "failure " << i;
  }
}

TEST_F(ApiTest, FailedAuthenticationsFromOneAddressDoNotBlockAnother) {
  for (int i = 0; i < 25; ++i) {
    Call c{"GET", "/api/v1/events", UnknownKey()};
    c.remote_addr = "198.51.100.9";
    Send(c);
  }
  Call valid{"GET", "/api/v1/events", admin_key_};
  valid.remote_addr = "198.51.100.10";
  EXPECT_EQ(Send(valid).status, 200);
}

TEST_F(ApiTest, FailedAuthenticationBlockEndsAfterAMinute) {
  for (int i = 0; i < 25; ++i) {
    Call c{"GET", "/api/v1/events", UnknownKey()};
    c.remote_addr = "198.51.100.11";
    Send(c);
  }
  clock_.Advance(seconds(61));
  Call valid{"GET", "/api/v1/events", admin_key_};
  valid.remote_addr = "198.51.100.11";
  EXPECT_EQ(Send(valid).status, 200);
}

// ---------------------------------------------------------------------------------------------
// Rate limit per key

class RateOneTest : public ApiTest {
 protected:
  int64_t Rate() const override { return 1; }
};

TEST_F(RateOneTest, ThirdRequestWithinASecondIs429WithRetryAfter) {
  std::string id = SeedLearner();
  EXPECT_EQ(Send({"GET", "/api/v1/learners/" + id, admin_key_}).status, 200);
  EXPECT_EQ(Send({"GET", "/api/v1/learners/" + id, admin_key_}).status, 200);
  http::Response r = Send({"GET", "/api/v1/learners/" + id, admin_key_});
  EXPECT_EQ(r.status, 429);
  EXPECT_EQ(ProblemType(r), "rate-limited");
  EXPECT_EQ(Header(r, "retry-after"), "1");
}

TEST_F(RateOneTest, RequestIsAllowedAgainOneSecondLater) {
  std::string id = SeedLearner();
  for (int i = 0; i < 3; ++i) {
    Send({"GET", "/api/v1/learners/" + id, admin_key_});
  }
  clock_.Advance(seconds(1));
  EXPECT_EQ(Send({"GET", "/api/v1/learners/" + id, admin_key_}).status, 200);
}

TEST_F(RateOneTest, EachKeyHasItsOwnBucket) {
  std::string id = SeedLearner();
  for (int i = 0; i < 3; ++i) {
    Send({"GET", "/api/v1/learners/" + id, admin_key_});
  }
  EXPECT_EQ(Send({"GET", "/api/v1/learners/" + id, read_key_}).status, 200);
}

class RateFiftyTest : public ApiTest {
 protected:
  int64_t Rate() const override { return 50; }
};

TEST_F(RateFiftyTest, AuthenticatedResponsesCarryRateLimitHeaders) {
  std::string id = SeedLearner();
  http::Response first = Send({"GET", "/api/v1/learners/" + id, admin_key_});
  EXPECT_EQ(Header(first, "x-ratelimit-limit"), "50");
  EXPECT_EQ(Header(first, "x-ratelimit-remaining"), "99");  // burst 2 × rate, one taken
  http::Response second = Send({"GET", "/api/v1/learners/x", admin_key_});  // a 404
  EXPECT_EQ(second.status, 404);
  EXPECT_EQ(Header(second, "x-ratelimit-limit"), "50");
  EXPECT_EQ(Header(second, "x-ratelimit-remaining"), "98");
}

TEST_F(RateFiftyTest, UnauthenticatedResponsesCarryNoRateLimitHeaders) {
  http::Response r = Send({"GET", "/api/v1/events", ""});
  EXPECT_EQ(r.status, 401);
  EXPECT_EQ(Header(r, "x-ratelimit-limit"), "<absent>");
}

TEST_F(ApiTest, RateLimitHeadersAreAbsentWhenLimitingIsOff) {
  http::Response r = Send({"GET", "/api/v1/events", admin_key_});
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(Header(r, "x-ratelimit-limit"), "<absent>");
  EXPECT_EQ(Header(r, "x-ratelimit-remaining"), "<absent>");
}

// ---------------------------------------------------------------------------------------------
// Bodies

TEST_F(ApiTest, NonJsonMediaTypeIs415) {
  Call c{"POST", "/api/v1/learners", admin_key_, kLearnerBody};
  c.headers["content-type"] = "text/plain";
  http::Response r = Send(c);
  EXPECT_EQ(r.status, 415);
  EXPECT_EQ(ProblemType(r), "unsupported-media-type");
}

TEST_F(ApiTest, JsonMediaTypeWithParametersIsAccepted) {
  Call c{"POST", "/api/v1/learners", admin_key_, kLearnerBody};
  c.headers["content-type"] = "Application/JSON; charset=utf-8";
  EXPECT_EQ(Send(c).status, 201);
}

TEST_F(ApiTest, BodyWithoutAContentTypeIs415) {
  Call c{"POST", "/api/v1/learners", admin_key_, kLearnerBody};
  c.headers["content-type"] = "";
  EXPECT_EQ(Send(c).status, 415);
}

TEST_F(ApiTest, MalformedJsonIs400) {
  http::Response r = PostLearner(R"({"email": "ann@x.io",)");
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(ProblemType(r), "malformed");
}

TEST_F(ApiTest, InvalidUtf8Is400) {
  http::Response r =
      PostLearner("{\"email\": \"ann@x.io\", \"firstname\": \"A\xff\xfe\", \"lastname\": \"L\"}");
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(ProblemType(r), "malformed");
}

TEST_F(ApiTest, NestingDeeperThan64LevelsIs400) {
  std::string deep =
      R"({"email": "ann@x.io", "firstname": "A", "lastname": "L", "custom_fields": )";
  // The outer object is level 1; 64 more levels of arrays make 65.
  deep += std::string(64, '[') + std::string(64, ']') + "}";
  http::Response r = PostLearner(deep);
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(ProblemType(r), "malformed");
}

TEST_F(ApiTest, Nesting64LevelsDeepIsParsed) {
  std::string deep =
      R"({"email": "ann@x.io", "firstname": "A", "lastname": "L", "custom_fields": )";
  deep += std::string(63, '[') + std::string(63, ']') + "}";
  http::Response r = PostLearner(deep);
  EXPECT_EQ(r.status, 422) << r.body;  // parsed, then refused by the learner's rules
}

TEST_F(ApiTest, TooLargeBodyIs413AfterAuthentication) {
  Call c{"POST", "/api/v1/learners", admin_key_};
  c.body_too_large = true;
  http::Response r = Send(c);
  EXPECT_EQ(r.status, 413);
  EXPECT_EQ(ProblemType(r), "payload-too-large");
}

TEST_F(ApiTest, TooLargeBodyWithoutAKeyIs401) {
  Call c{"POST", "/api/v1/learners", ""};
  c.body_too_large = true;
  EXPECT_EQ(Send(c).status, 401);
}

TEST_F(ApiTest, TooLargeBodyWithoutTheScopeIs403) {
  Call c{"POST", "/api/v1/learners", read_key_};
  c.body_too_large = true;
  EXPECT_EQ(Send(c).status, 403);
}

TEST_F(ApiTest, EmptyBodyCountsAsAnEmptyObject) {
  http::Response r = Send({"POST", "/api/v1/learners", admin_key_, ""});
  EXPECT_EQ(r.status, 422) << r.body;
}

// ---------------------------------------------------------------------------------------------
// Idempotency-Key

TEST_F(ApiTest, IdempotentRepeatReplaysTheStoredResponseAndChangesNothing) {
  http::Response first = PostLearner(kLearnerBody, "idem-1");
  ASSERT_EQ(first.status, 201) << first.body;
  EXPECT_EQ(Header(first, "idempotent-replayed"), "<absent>");
  clock_.Advance(seconds(5));
  http::Response again = PostLearner(kLearnerBody, "idem-1");
  EXPECT_EQ(again.status, 201);
  EXPECT_EQ(again.body, first.body);
  EXPECT_EQ(Header(again, "idempotent-replayed"), "true");
  EXPECT_EQ(Header(again, "location"), Header(first, "location"));
  EXPECT_EQ(CountRows("learners"), 1);
  EXPECT_EQ(CountRows("events"), 1);
}

TEST_F(ApiTest, IdempotencyKeyReusedWithAnotherBodyIs409) {
  ASSERT_EQ(PostLearner(kLearnerBody, "idem-1").status, 201);
  http::Response r =
      PostLearner(R"({"email": "bob@x.io", "firstname": "Bob", "lastname": "Lee"})", "idem-1");
  EXPECT_EQ(r.status, 409);
  EXPECT_EQ(ProblemType(r), "idempotency-key-reused");
  EXPECT_EQ(CountRows("learners"), 1);
}

TEST_F(ApiTest, IdempotencyKeysAreScopedByPath) {
  ASSERT_EQ(PostLearner(kLearnerBody, "idem-1").status, 201);
  Call c{"POST", "/api/v1/api-keys", admin_key_, R"({"name": "x"})"};
  c.headers["idempotency-key"] = "idem-1";
  http::Response r = Send(c);
  EXPECT_EQ(r.status, 201);
  EXPECT_EQ(Header(r, "idempotent-replayed"), "<absent>");
}

TEST_F(ApiTest, InvalidIdempotencyKeyIs400) {
  for (const std::string& key :
       {std::string("has space"), std::string(256, 'k'), std::string("caf\xC3\xA9")}) {
    http::Response r = PostLearner(kLearnerBody, key);
    EXPECT_EQ(r.status, 400) << key;
  }
  EXPECT_EQ(CountRows("learners"), 0);
}

TEST_F(ApiTest, IdempotentValidationErrorIsStoredAndReplayed) {
  http::Response first = PostLearner(R"({"email": "nope"})", "idem-bad");
  ASSERT_EQ(first.status, 422);
  http::Response again = PostLearner(R"({"email": "nope"})", "idem-bad");
  EXPECT_EQ(again.status, 422);
  EXPECT_EQ(again.body, first.body);
  EXPECT_EQ(Header(again, "idempotent-replayed"), "true");
}

TEST_F(ApiTest, ApiKeyCreateReplayShowsTheKeyMasked) {
  Call c{"POST", "/api/v1/api-keys", admin_key_, R"({"name": "ci", "scopes": ["read"]})"};
  c.headers["idempotency-key"] = "key-1";
  http::Response first = Send(c);
  ASSERT_EQ(first.status, 201) << first.body;
  std::string secret(json::parse(first.body).at("key").as_string());
  EXPECT_EQ(secret.rfind("lw_", 0), 0u);
  http::Response again = Send(c);
  EXPECT_EQ(again.status, 201);
  EXPECT_EQ(Header(again, "idempotent-replayed"), "true");
  json::object replayed = json::parse(again.body).as_object();
  EXPECT_EQ(replayed.at("key"), "********");
  EXPECT_EQ(again.body.find(secret.substr(3 + 26 + 1)), std::string::npos);
  EXPECT_EQ(replayed.at("id"), json::parse(first.body).at("id"));
  EXPECT_EQ(CountRows("api_keys"), 3);  // first key, read key, this one
  // Nor is the secret anywhere in the stored record.
  EXPECT_TRUE(db_->Read([&](store::Tx& tx) -> core::Status {
                   auto rows = tx.Query("SELECT response_body FROM idempotency_keys");
                   EXPECT_TRUE(rows.ok());
                   for (std::size_t i = 0; rows.ok() && i < rows->size(); ++i) {
                     EXPECT_EQ((*rows)[i].Str("response_body").find(secret), std::string::npos);
                   }
                   return core::Status::Ok();
                 })
                  .ok());
}

TEST_F(ApiTest, ReplayedLearnerCreateNoLongerHoldsTheEmailAfterErasure) {
  http::Response first = PostLearner(kLearnerBody, "idem-erase");
  ASSERT_EQ(first.status, 201);
  std::string id(json::parse(first.body).at("id").as_string());
  http::Response erased = Send({"POST", "/api/v1/learners/" + id + "/erase", admin_key_});
  ASSERT_EQ(erased.status, 200) << erased.body;
  http::Response again = PostLearner(kLearnerBody, "idem-erase");
  EXPECT_EQ(again.status, 201);
  EXPECT_EQ(Header(again, "idempotent-replayed"), "true");
  EXPECT_EQ(again.body.find("ann@x.io"), std::string::npos) << again.body;
  EXPECT_EQ(again.body.find("Ann"), std::string::npos) << again.body;
  json::object body = json::parse(again.body).as_object();
  EXPECT_EQ(body.at("email"), "erased");
  EXPECT_EQ(body.at("id"), json::value(id));
}

TEST_F(ApiTest, IdempotencyRecordIsKeptFor24Hours) {
  Call c{"POST", "/api/v1/api-keys", admin_key_, R"({"name": "ci"})"};
  c.headers["idempotency-key"] = "key-24h";
  ASSERT_EQ(Send(c).status, 201);
  clock_.Advance(hours(24) - milliseconds(1));
  http::Response again = Send(c);
  EXPECT_EQ(Header(again, "idempotent-replayed"), "true");
  EXPECT_EQ(CountRows("api_keys"), 3);
}

TEST_F(ApiTest, IdempotencyRecordExpiresAfter24HoursAndTheKeyRunsAgain) {
  Call c{"POST", "/api/v1/api-keys", admin_key_, R"({"name": "ci"})"};
  c.headers["idempotency-key"] = "key-24h";
  http::Response first = Send(c);
  ASSERT_EQ(first.status, 201);
  clock_.Advance(hours(24));
  http::Response again = Send(c);
  EXPECT_EQ(again.status, 201);
  EXPECT_EQ(Header(again, "idempotent-replayed"), "<absent>");
  EXPECT_NE(json::parse(again.body).at("key"), "********");
  EXPECT_NE(json::parse(again.body).at("id"), json::parse(first.body).at("id"));
  EXPECT_EQ(CountRows("api_keys"), 4);
  // And the new run is itself replayable.
  EXPECT_EQ(Header(Send(c), "idempotent-replayed"), "true");
}

// A claim as the first request leaves it while its handler runs (no response yet).
class InFlightTest : public ApiTest {
 protected:
  void Claim(const std::string& key, const std::string& body, int64_t locked_for_ms) {
    int64_t now = core::ToUnixMs(clock_.Now());
    ASSERT_TRUE(db_->Write([&](store::Tx& tx) {
                     return tx
                         .Exec(
                             "INSERT INTO idempotency_keys (organization_id, credential_id, "
                             "method, path, idem_key, body_hash, locked_until, expires_at) "
                             "VALUES ($1, $2, 'POST', '/api/v1/learners', $3, $4, $5, $6)",
                             {org_id_, admin_key_id_, key, core::Sha256Hex(body),
                              now + locked_for_ms, now + 86'400'000})
                         .status();
                   })
                    .ok());
  }
};

TEST_F(InFlightTest, RepeatWhileTheFirstIsInFlightIs409InProgress) {
  Claim("idem-busy", kLearnerBody, 60'000);
  http::Response r = PostLearner(kLearnerBody, "idem-busy");
  EXPECT_EQ(r.status, 409);
  EXPECT_EQ(ProblemType(r), "idempotency-in-progress");
  EXPECT_EQ(CountRows("learners"), 0);
}

TEST_F(InFlightTest, AbandonedClaimIsTakenOverOnceItsLockLapses) {
  Claim("idem-dead", kLearnerBody, 60'000);
  clock_.Advance(seconds(61));
  http::Response r = PostLearner(kLearnerBody, "idem-dead");
  EXPECT_EQ(r.status, 201) << r.body;
  EXPECT_EQ(Header(r, "idempotent-replayed"), "<absent>");
  EXPECT_EQ(CountRows("learners"), 1);
}

TEST_F(ApiTest, IdempotencyKeysAreScopedByCredential) {
  http::Response created = Send({"POST", "/api/v1/api-keys", admin_key_, R"({"name": "w"})"});
  ASSERT_EQ(created.status, 201);
  std::string other(json::parse(created.body).at("key").as_string());
  ASSERT_EQ(PostLearner(kLearnerBody, "idem-1").status, 201);
  Call c{"POST", "/api/v1/learners", other, kLearnerBody};
  c.headers["idempotency-key"] = "idem-1";
  http::Response r = Send(c);
  EXPECT_EQ(r.status, 409);  // ran again: the email is taken
  EXPECT_EQ(ProblemType(r), "conflict");
}

// Found by fuzz_api: an unknown parameter whose name is not UTF-8 was quoted raw in the problem,
// which made the body invalid JSON.
TEST_F(ApiTest, AProblemQuotingInvalidUtf8StaysValidJson) {
  http::Request req;
  req.method = "GET";
  req.path = "/api/v1/events";
  req.query = {
      {"3\xCE"
       "e",
       "1"}};
  req.remote_addr = "192.0.2.1";
  req.headers.emplace("authorization", "Bearer " + admin_key_);
  http::Router::Match m = router_.Find(req.method, req.path);
  ASSERT_EQ(m.kind, http::Router::Match::Kind::kFound);
  http::Response r = (*m.handler)(req);
  EXPECT_EQ(r.status, 400);
  boost::system::error_code ec;
  json::value body = json::parse(r.body, ec);
  ASSERT_FALSE(ec) << r.body;
  EXPECT_NE(std::string(body.at("detail").as_string())
                .find("3\xEF\xBF\xBD"
                      "e"),
            std::string::npos);
}

}  // namespace
}  // namespace learnwire::api
