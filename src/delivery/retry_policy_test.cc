#include "delivery/retry_policy.h"

#include <gtest/gtest.h>

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

namespace learnwire::delivery {
namespace {

namespace json = boost::json;
using std::chrono::milliseconds;

// 2026-11-22T10:00:00.123Z, a Sunday.
const core::TimePoint kNow = core::ManualClock(1'795'341'600'123).Now();

Uniform01 Fixed(double u) {
  return [u] { return u; };
}

core::Result<RetryPolicy> Parse(std::string_view text) {
  json::value v = json::parse(text);
  return ParseRetryPolicy(&v);
}

// The fields at fault, "field: message" each, or "" when `text` parses.
std::vector<std::string> Errors(std::string_view text) {
  core::Result<RetryPolicy> p = Parse(text);
  std::vector<std::string> out;
  if (!p.ok()) {
    EXPECT_EQ(p.status().code(), core::Code::kInvalidArgument);
    for (const core::FieldError& e : p.status().fields()) {
      out.push_back(e.field);
    }
  }
  return out;
}

using Fields = std::vector<std::string>;

RetryPolicy Custom(std::vector<int> delays) {
  RetryPolicy p;
  p.schedule = Schedule::kCustom;
  p.delays_s = std::move(delays);
  return p;
}

int64_t WaitMs(const RetryPolicy& p, int attempt, const AttemptOutcome& outcome, double u = 0.5) {
  Decision d = Decide(p, attempt, outcome, kNow, Fixed(u));
  EXPECT_EQ(d.verdict, Verdict::kRetry) << "attempt " << attempt;
  if (d.verdict != Verdict::kRetry) {
    return -1;
  }
  EXPECT_EQ(d.next_attempt_at, kNow + d.wait);
  return d.wait.count();
}

AttemptOutcome Status(int status, std::optional<std::string> retry_after = std::nullopt) {
  AttemptOutcome o;
  o.status = status;
  o.retry_after = std::move(retry_after);
  return o;
}

AttemptOutcome TransportError(std::optional<std::string> retry_after = std::nullopt) {
  AttemptOutcome o;
  o.transport_error = true;
  o.retry_after = std::move(retry_after);
  return o;
}

const AttemptOutcome kTransportError = TransportError();

// --- Parsing ---

TEST(RetryPolicyTest, AbsentOrNullMeansDefaults) {
  for (core::Result<RetryPolicy> p : {ParseRetryPolicy(nullptr), Parse("null"), Parse("{}")}) {
    ASSERT_TRUE(p.ok());
    EXPECT_EQ(p->schedule, Schedule::kExponential);
    EXPECT_EQ(p->initial_delay_s, 2);
    EXPECT_EQ(p->max_delay_s, 3600);
    EXPECT_EQ(p->max_attempts, 60);
    EXPECT_TRUE(p->delays_s.empty());
    EXPECT_EQ(p->jitter, 0.1);
    EXPECT_FALSE(p->disable_on_4xx);
  }
}

TEST(RetryPolicyTest, ReadsEveryField) {
  core::Result<RetryPolicy> e = Parse(
      R"({"schedule":"exponential","initial_delay_s":5,"max_delay_s":600,"max_attempts":10,
          "jitter":0.25,"disable_on_4xx":true})");
  ASSERT_TRUE(e.ok());
  EXPECT_EQ(e->initial_delay_s, 5);
  EXPECT_EQ(e->max_delay_s, 600);
  EXPECT_EQ(MaxAttempts(*e), 10);
  EXPECT_EQ(e->jitter, 0.25);
  EXPECT_TRUE(e->disable_on_4xx);

  core::Result<RetryPolicy> c = Parse(R"({"schedule":"custom","delays_s":[1,60,3600]})");
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->schedule, Schedule::kCustom);
  EXPECT_EQ(c->delays_s, (std::vector<int>{1, 60, 3600}));
  EXPECT_EQ(MaxAttempts(*c), 4);
}

TEST(RetryPolicyTest, CustomWithoutDelaysMakesOneAttempt) {
  EXPECT_EQ(MaxAttempts(*Parse(R"({"schedule":"custom"})")), 1);
  EXPECT_EQ(MaxAttempts(*Parse(R"({"schedule":"custom","delays_s":[]})")), 1);
}

TEST(RetryPolicyTest, EnforcesEachBoundJustInsideAndJustOutside) {
  struct Case {
    const char* json;
    Fields errors;
  } cases[] = {
      {R"({"initial_delay_s":1})", {}},
      {R"({"initial_delay_s":3600})", {}},
      {R"({"initial_delay_s":0})", {"retry_policy.initial_delay_s"}},
      {R"({"initial_delay_s":3601})", {"retry_policy.initial_delay_s"}},
      {R"({"max_delay_s":1})", {}},
      {R"({"max_delay_s":86400})", {}},
      {R"({"max_delay_s":0})", {"retry_policy.max_delay_s"}},
      {R"({"max_delay_s":86401})", {"retry_policy.max_delay_s"}},
      {R"({"max_attempts":1})", {}},
      {R"({"max_attempts":100})", {}},
      {R"({"max_attempts":0})", {"retry_policy.max_attempts"}},
      {R"({"max_attempts":101})", {"retry_policy.max_attempts"}},
      {R"({"max_attempts":-1})", {"retry_policy.max_attempts"}},
      {R"({"max_attempts":18446744073709551615})", {"retry_policy.max_attempts"}},
      {R"({"jitter":0})", {}},
      {R"({"jitter":1})", {}},
      {R"({"jitter":0.0})", {}},
      {R"({"jitter":1.0})", {}},
      {R"({"jitter":-0.001})", {"retry_policy.jitter"}},
      {R"({"jitter":1.001})", {"retry_policy.jitter"}},
      {R"({"schedule":"custom","delays_s":[1,86400]})", {}},
      {R"({"schedule":"custom","delays_s":[0]})", {"retry_policy.delays_s[0]"}},
      {R"({"schedule":"custom","delays_s":[86401]})", {"retry_policy.delays_s[0]"}},
      {R"({"schedule":"custom","delays_s":[5,5,0,5]})", {"retry_policy.delays_s[2]"}},
      {R"({"schedule":"custom","delays_s":[5,-1,5,100000]})",
       {"retry_policy.delays_s[1]", "retry_policy.delays_s[3]"}},
  };
  for (const Case& c : cases) {
    EXPECT_EQ(Errors(c.json), c.errors) << c.json;
  }
}

TEST(RetryPolicyTest, AllowsAtMost99CustomDelays) {
  std::string delays = "1";
  for (int i = 1; i < 99; ++i) {
    delays += ",1";
  }
  core::Result<RetryPolicy> p = Parse(R"({"schedule":"custom","delays_s":[)" + delays + "]}");
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(MaxAttempts(*p), 100);
  EXPECT_EQ(Errors(R"({"schedule":"custom","delays_s":[)" + delays + ",1]}"),
            Fields{"retry_policy.delays_s"});
}

TEST(RetryPolicyTest, RefusesWrongTypes) {
  struct Case {
    const char* json;
    Fields errors;
  } cases[] = {
      {R"([])", {"retry_policy"}},
      {R"("exponential")", {"retry_policy"}},
      {R"(3)", {"retry_policy"}},
      {R"({"schedule":"linear"})", {"retry_policy.schedule"}},
      {R"({"schedule":"Custom"})", {"retry_policy.schedule"}},
      {R"({"schedule":1})", {"retry_policy.schedule"}},
      {R"({"schedule":null})", {"retry_policy.schedule"}},
      {R"({"initial_delay_s":"2"})", {"retry_policy.initial_delay_s"}},
      {R"({"initial_delay_s":2.5})", {"retry_policy.initial_delay_s"}},
      {R"({"initial_delay_s":2.0})", {}},
      {R"({"initial_delay_s":true})", {"retry_policy.initial_delay_s"}},
      {R"({"initial_delay_s":null})", {"retry_policy.initial_delay_s"}},
      {R"({"max_delay_s":[60]})", {"retry_policy.max_delay_s"}},
      {R"({"jitter":"0.1"})", {"retry_policy.jitter"}},
      {R"({"jitter":null})", {"retry_policy.jitter"}},
      {R"({"disable_on_4xx":"true"})", {"retry_policy.disable_on_4xx"}},
      {R"({"disable_on_4xx":1})", {"retry_policy.disable_on_4xx"}},
      {R"({"schedule":"custom","delays_s":"1,2"})", {"retry_policy.delays_s"}},
      {R"({"schedule":"custom","delays_s":{"0":1}})", {"retry_policy.delays_s"}},
      {R"({"schedule":"custom","delays_s":[1,"2",3.5]})",
       {"retry_policy.delays_s[1]", "retry_policy.delays_s[2]"}},
  };
  for (const Case& c : cases) {
    EXPECT_EQ(Errors(c.json), c.errors) << c.json;
  }
}

TEST(RetryPolicyTest, RefusesUnknownFields) {
  EXPECT_EQ(Errors(R"({"max_retries":5})"), Fields{"retry_policy.max_retries"});
  EXPECT_EQ(Errors(R"({"Jitter":0.1})"), Fields{"retry_policy.Jitter"});
}

TEST(RetryPolicyTest, RefusesTheFieldsOfTheOtherSchedule) {
  EXPECT_EQ(Errors(R"({"schedule":"custom","delays_s":[1],"max_attempts":2})"),
            Fields{"retry_policy.max_attempts"});
  EXPECT_EQ(Errors(R"({"schedule":"custom","max_attempts":500})"),
            Fields{"retry_policy.max_attempts"});
  EXPECT_EQ(Errors(R"({"schedule":"exponential","delays_s":[1]})"),
            Fields{"retry_policy.delays_s"});
  EXPECT_EQ(Errors(R"({"delays_s":[]})"), Fields{"retry_policy.delays_s"});
  core::Result<RetryPolicy> p = Parse(R"({"schedule":"custom","max_attempts":2})");
  ASSERT_FALSE(p.ok());
  EXPECT_EQ(p.status().fields()[0].message,
            "must not be set with schedule \"custom\": it makes len(delays_s) + 1 attempts");
}

TEST(RetryPolicyTest, ReportsEveryProblemAtOnce) {
  EXPECT_EQ(Errors(R"({"initial_delay_s":0,"jitter":2,"extra":1})"),
            (Fields{"retry_policy.initial_delay_s", "retry_policy.jitter", "retry_policy.extra"}));
}

// --- Rendering and storage ---

TEST(RetryPolicyTest, RendersEveryFieldOfAnExponentialPolicy) {
  EXPECT_EQ(json::serialize(RenderRetryPolicy(RetryPolicy{})),
            R"({"schedule":"exponential","initial_delay_s":2,"max_delay_s":3600,)"
            R"("max_attempts":60,"jitter":1E-1,"disable_on_4xx":false})");
}

TEST(RetryPolicyTest, RendersACustomPolicyThatParsesBack) {
  json::value v = RenderRetryPolicy(Custom({10, 20}));
  const json::object& o = v.get_object();
  EXPECT_EQ(o.at("schedule"), "custom");
  EXPECT_FALSE(o.contains("max_attempts"));  // a request may not give it with "custom"
  EXPECT_EQ(o.at("delays_s"), (json::array{10, 20}));
  EXPECT_EQ(RenderRetryPolicy(Custom({})).at("delays_s"), json::array());
  core::Result<RetryPolicy> back = ParseRetryPolicy(&v);
  ASSERT_TRUE(back.ok()) << back.status().message();
  EXPECT_EQ(MaxAttempts(*back), 3);
}

TEST(RetryPolicyTest, AnExponentialRenderingParsesBack) {
  RetryPolicy p;
  p.initial_delay_s = 7;
  p.max_attempts = 9;
  p.jitter = 0.3;
  json::value v = RenderRetryPolicy(p);
  core::Result<RetryPolicy> back = ParseRetryPolicy(&v);
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(back->initial_delay_s, 7);
  EXPECT_EQ(back->max_attempts, 9);
  EXPECT_EQ(back->jitter, 0.3);
}

TEST(RetryPolicyTest, StoredFormRoundTrips) {
  RetryPolicy custom = Custom({1, 2, 3});
  custom.max_delay_s = 60;
  custom.jitter = 0;
  custom.disable_on_4xx = true;
  core::Result<RetryPolicy> back = ParseStoredRetryPolicy(StoredRetryPolicy(custom));
  ASSERT_TRUE(back.ok()) << back.status().message();
  EXPECT_EQ(back->schedule, Schedule::kCustom);
  EXPECT_EQ(back->delays_s, custom.delays_s);
  EXPECT_EQ(back->max_delay_s, 60);
  EXPECT_EQ(back->jitter, 0.0);
  EXPECT_TRUE(back->disable_on_4xx);

  RetryPolicy exponential;
  exponential.max_attempts = 5;
  back = ParseStoredRetryPolicy(StoredRetryPolicy(exponential));
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(back->schedule, Schedule::kExponential);
  EXPECT_EQ(back->max_attempts, 5);
}

TEST(RetryPolicyTest, ABrokenStoredPolicyIsInternal) {
  EXPECT_EQ(ParseStoredRetryPolicy("not json").status().code(), core::Code::kInternal);
  EXPECT_EQ(ParseStoredRetryPolicy(R"({"max_attempts":0})").status().code(), core::Code::kInternal);
}

// --- Decisions ---

TEST(RetryPolicyTest, DefaultScheduleDoublesFrom2sTo3600sIn60Attempts) {
  RetryPolicy p;
  int64_t total_ms = 0;
  for (int n = 1; n < 60; ++n) {
    int64_t want = std::min<int64_t>(2000LL << (n - 1 < 12 ? n - 1 : 12), 3'600'000);
    EXPECT_EQ(WaitMs(p, n, kTransportError), want) << "after attempt " << n;
    total_ms += want;
  }
  // 2 + 4 + … + 2048 s, then 48 waits of an hour: about two days.
  EXPECT_EQ(total_ms, (4094 + 48 * 3600) * 1000LL);
  Decision last = Decide(p, 60, kTransportError, kNow, Fixed(0.5));
  EXPECT_EQ(last.verdict, Verdict::kFailed);
  EXPECT_TRUE(last.exhausted);
  EXPECT_EQ(last.next_attempt_at, std::nullopt);
}

TEST(RetryPolicyTest, ExponentialHonoursItsParameters) {
  RetryPolicy p;
  p.initial_delay_s = 10;
  p.max_delay_s = 45;
  p.max_attempts = 4;
  p.jitter = 0;
  EXPECT_EQ(WaitMs(p, 1, kTransportError), 10'000);
  EXPECT_EQ(WaitMs(p, 2, kTransportError), 20'000);
  EXPECT_EQ(WaitMs(p, 3, kTransportError), 40'000);
  EXPECT_EQ(Decide(p, 4, kTransportError, kNow, Fixed(0)).verdict, Verdict::kFailed);
  p.max_attempts = 100;
  EXPECT_EQ(WaitMs(p, 4, kTransportError), 45'000);
  EXPECT_EQ(WaitMs(p, 99, kTransportError), 45'000);
  p.initial_delay_s = 3600;
  EXPECT_EQ(WaitMs(p, 1, kTransportError), 45'000);  // the cap bounds even the first wait
}

TEST(RetryPolicyTest, JitterStaysWithinItsBounds) {
  RetryPolicy p;  // jitter 0.1, first wait 2 s
  EXPECT_EQ(WaitMs(p, 1, kTransportError, 0.0), 1800);
  EXPECT_EQ(WaitMs(p, 1, kTransportError, 0.5), 2000);
  EXPECT_EQ(WaitMs(p, 1, kTransportError, 0.999), 2200);  // 2199.6 rounded
  EXPECT_EQ(WaitMs(p, 1, kTransportError, 0.25), 1900);
  p.jitter = 1;
  EXPECT_EQ(WaitMs(p, 1, kTransportError, 0.0), 0);
  EXPECT_EQ(WaitMs(p, 1, kTransportError, 0.999), 3996);
  p.jitter = 0;
  EXPECT_EQ(WaitMs(p, 1, kTransportError, 0.999), 2000);
}

TEST(RetryPolicyTest, JitteredExponentialWaitsNeverExceedMaxDelay) {
  RetryPolicy p;
  EXPECT_EQ(WaitMs(p, 30, kTransportError, 0.999), 3'600'000);
  EXPECT_EQ(WaitMs(p, 30, kTransportError, 0.0), 3'240'000);
}

TEST(RetryPolicyTest, OutOfRangeRandomnessIsClamped) {
  RetryPolicy p;
  EXPECT_EQ(WaitMs(p, 1, kTransportError, -5.0), 1800);
  EXPECT_EQ(WaitMs(p, 1, kTransportError, 7.0), 2200);
  EXPECT_EQ(WaitMs(p, 1, kTransportError, std::nan("")), 1800);
}

TEST(RetryPolicyTest, CustomScheduleWaitsItsDelaysThenFails) {
  RetryPolicy p = Custom({1, 60, 7200});
  p.jitter = 0;
  EXPECT_EQ(WaitMs(p, 1, kTransportError), 1000);
  EXPECT_EQ(WaitMs(p, 2, kTransportError), 60'000);
  EXPECT_EQ(WaitMs(p, 3, kTransportError), 7'200'000);  // custom waits are not capped
  Decision d = Decide(p, 4, kTransportError, kNow, Fixed(0.5));
  EXPECT_EQ(d.verdict, Verdict::kFailed);
  EXPECT_TRUE(d.exhausted);
  p.jitter = 0.5;
  EXPECT_EQ(WaitMs(p, 2, kTransportError, 0.0), 30'000);
}

TEST(RetryPolicyTest, ZeroCustomDelaysMeansOneAttempt) {
  Decision d = Decide(Custom({}), 1, Status(500), kNow, Fixed(0.5));
  EXPECT_EQ(d.verdict, Verdict::kFailed);
  EXPECT_TRUE(d.exhausted);
  RetryPolicy one;
  one.max_attempts = 1;
  EXPECT_EQ(Decide(one, 1, kTransportError, kNow, Fixed(0.5)).verdict, Verdict::kFailed);
}

TEST(RetryPolicyTest, Any2xxSucceeds) {
  for (int status : {200, 201, 202, 204, 299}) {
    Decision d = Decide(RetryPolicy{}, 60, Status(status), kNow, Fixed(0.5));
    EXPECT_EQ(d.verdict, Verdict::kSucceeded) << status;
    EXPECT_FALSE(d.exhausted);
    EXPECT_EQ(d.next_attempt_at, std::nullopt);
  }
  // The status line decides, even if reading the body then failed.
  AttemptOutcome late_error = Status(200);
  late_error.transport_error = true;
  EXPECT_EQ(Decide(RetryPolicy{}, 1, late_error, kNow, Fixed(0.5)).verdict, Verdict::kSucceeded);
}

TEST(RetryPolicyTest, GoneDisablesAtOnce) {
  for (int attempt : {1, 60}) {
    Decision d = Decide(RetryPolicy{}, attempt, Status(410), kNow, Fixed(0.5));
    EXPECT_EQ(d.verdict, Verdict::kDisable);
    EXPECT_EQ(d.disable_reason, "http_410");
    EXPECT_EQ(d.next_attempt_at, std::nullopt);
  }
}

TEST(RetryPolicyTest, DisableOn4xxSparesTimeoutAndTooManyRequests) {
  RetryPolicy p;
  p.disable_on_4xx = true;
  for (int status : {400, 401, 403, 404, 405, 413, 422, 499}) {
    Decision d = Decide(p, 1, Status(status), kNow, Fixed(0.5));
    EXPECT_EQ(d.verdict, Verdict::kDisable) << status;
    EXPECT_EQ(d.disable_reason, "http_4xx") << status;
  }
  EXPECT_EQ(Decide(p, 1, Status(410), kNow, Fixed(0.5)).disable_reason, "http_410");
  for (int status : {408, 429, 500, 503, 301, 399, 500}) {
    EXPECT_EQ(Decide(p, 1, Status(status), kNow, Fixed(0.5)).verdict, Verdict::kRetry) << status;
  }
}

TEST(RetryPolicyTest, A4xxIsRetriedUnlessDisableOn4xx) {
  for (int status : {400, 401, 404, 422}) {
    EXPECT_EQ(WaitMs(RetryPolicy{}, 1, Status(status)), 2000) << status;
  }
}

TEST(RetryPolicyTest, RedirectsAndOtherStatusesAreFailedAttempts) {
  for (int status : {100, 301, 302, 303, 304, 307, 308, 500, 502, 503, 504, 599}) {
    EXPECT_EQ(WaitMs(RetryPolicy{}, 1, Status(status)), 2000) << status;
    EXPECT_TRUE(Decide(RetryPolicy{}, 60, Status(status), kNow, Fixed(0.5)).exhausted) << status;
  }
  EXPECT_EQ(WaitMs(RetryPolicy{}, 3, kTransportError), 8000);
}

TEST(RetryPolicyTest, AnAttemptNumberBelowOneCountsAsOne) {
  EXPECT_EQ(WaitMs(RetryPolicy{}, 0, kTransportError), 2000);
  EXPECT_EQ(WaitMs(RetryPolicy{}, -3, kTransportError), 2000);
}

TEST(RetryPolicyTest, HonoursRetryAfterUpToMaxDelay) {
  RetryPolicy p;
  EXPECT_EQ(WaitMs(p, 1, Status(429, "120")), 120'000);
  EXPECT_EQ(WaitMs(p, 1, Status(503, "120")), 120'000);
  EXPECT_EQ(WaitMs(p, 1, Status(429, "5000")), 3'600'000);  // capped at max_delay_s
  EXPECT_EQ(WaitMs(p, 3, Status(429, "1")), 8000);          // at least, never less
  EXPECT_EQ(WaitMs(p, 1, Status(429, "0")), 2000);
  EXPECT_EQ(WaitMs(p, 1, Status(503, "Sun, 22 Nov 2026 10:01:30 GMT")), 89'877);
  EXPECT_EQ(WaitMs(p, 1, Status(503, "Sunday, 22-Nov-26 10:01:30 GMT")), 89'877);
  EXPECT_EQ(WaitMs(p, 1, Status(503, "Sun Nov 22 10:01:30 2026")), 89'877);
  RetryPolicy custom = Custom({10});
  custom.max_delay_s = 60;
  custom.jitter = 0;
  EXPECT_EQ(WaitMs(custom, 1, Status(429, "300")), 60'000);
}

TEST(RetryPolicyTest, IgnoresRetryAfterElsewhereOrUnreadable) {
  RetryPolicy p;
  EXPECT_EQ(WaitMs(p, 1, Status(500, "120")), 2000);
  EXPECT_EQ(WaitMs(p, 1, Status(502, "120")), 2000);
  EXPECT_EQ(WaitMs(p, 1, Status(408, "120")), 2000);
  EXPECT_EQ(WaitMs(p, 1, TransportError("120")), 2000);
  for (const char* garbage : {"soon", "-5", "1.5", "120s", "", "Sun, 06 Nov 1994 08:49:37 GMT",
                              "Sun, 22 Nov 2026 10:00:00 GMT"}) {
    EXPECT_EQ(WaitMs(p, 1, Status(429, garbage)), 2000) << garbage;
  }
}

// --- Retry-After ---

TEST(RetryPolicyTest, ParsesRetryAfterSeconds) {
  EXPECT_EQ(ParseRetryAfter("120", kNow), milliseconds(120'000));
  EXPECT_EQ(ParseRetryAfter(" \t120 ", kNow), milliseconds(120'000));
  EXPECT_EQ(ParseRetryAfter("0", kNow), milliseconds(0));
  EXPECT_EQ(ParseRetryAfter("007", kNow), milliseconds(7000));
  std::optional<milliseconds> huge = ParseRetryAfter("99999999999999999999999999", kNow);
  ASSERT_TRUE(huge.has_value());
  EXPECT_GT(huge->count(), 86'400'000LL * 365 * 1000);
}

TEST(RetryPolicyTest, ParsesRetryAfterDatesRelativeToNow) {
  EXPECT_EQ(ParseRetryAfter("Sun, 22 Nov 2026 10:01:30 GMT", kNow), milliseconds(89'877));
  EXPECT_EQ(ParseRetryAfter("Sunday, 22-Nov-26 10:01:30 GMT", kNow), milliseconds(89'877));
  EXPECT_EQ(ParseRetryAfter("Sun Nov 22 10:01:30 2026", kNow), milliseconds(89'877));
  EXPECT_EQ(ParseRetryAfter("Mon, 23 Nov 2026 10:00:01 GMT", kNow), milliseconds(86'400'877));
}

TEST(RetryPolicyTest, RefusesPastDatesAndGarbage) {
  for (const char* value :
       {"Sun, 06 Nov 1994 08:49:37 GMT", "Sunday, 06-Nov-94 08:49:37 GMT",
        "Sun Nov  6 08:49:37 1994", "Sun, 22 Nov 2026 10:00:00 GMT",  // 123 ms before now
        "", "  ", "-1", "+5", "1.5", "1e3", "0x10", "120 s", "soon", "Sun, 22 Nov 2026",
        "Sun, 32 Nov 2026 10:01:30 GMT", "2026-11-22T10:01:30Z"}) {
    EXPECT_EQ(ParseRetryAfter(value, kNow), std::nullopt) << value;
  }
}

TEST(RetryPolicyTest, SeededUniformIsDeterministicAndInRange) {
  Uniform01 a = SeededUniform(42);
  Uniform01 b = SeededUniform(42);
  Uniform01 c = SeededUniform(43);
  bool differs = false;
  for (int i = 0; i < 1000; ++i) {
    double x = a();
    EXPECT_EQ(x, b());
    EXPECT_GE(x, 0.0);
    EXPECT_LT(x, 1.0);
    differs = differs || x != c();
  }
  EXPECT_TRUE(differs);
}

}  // namespace
}  // namespace learnwire::delivery
