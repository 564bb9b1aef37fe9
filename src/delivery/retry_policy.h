// The retry maths of WEBHOOKS.md §5 as small pure functions: a subscription's retry_policy (its
// request, response and stored forms), and the verdict on one attempt's outcome with the time of
// the next. Time (`now`) and randomness (Uniform01) are injected. Value types; thread-compatible.
#pragma once

#include <boost/json/object.hpp>
#include <boost/json/value.hpp>
#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/clock.h"
#include "core/status.h"

namespace learnwire::delivery {

inline constexpr int kMinInitialDelayS = 1;
inline constexpr int kMaxInitialDelayS = 3600;
inline constexpr int kMinMaxDelayS = 1;
inline constexpr int kMaxMaxDelayS = 86400;
inline constexpr int kMinMaxAttempts = 1;
inline constexpr int kMaxMaxAttempts = 100;
inline constexpr std::size_t kMaxCustomDelays = 99;
inline constexpr int kMinCustomDelayS = 1;
inline constexpr int kMaxCustomDelayS = 86400;

enum class Schedule { kExponential, kCustom };

struct RetryPolicy {
  Schedule schedule = Schedule::kExponential;
  int initial_delay_s = 2;    // 1-3,600
  int max_delay_s = 3600;     // 1-86,400
  int max_attempts = 60;      // 1-100 (exponential only)
  std::vector<int> delays_s;  // custom: 0-99 waits, each 1-86,400
  double jitter = 0.1;        // 0-1
  bool disable_on_4xx = false;
};

// Parses the `retry_policy` request object. `value` null (the pointer or a JSON null) means all
// defaults; omitted fields take their defaults. Refused, each as Status::Invalid with a field
// "retry_policy.<name>" (every problem is reported, not just the first): a non-object
// ("retry_policy"); an unknown field; a wrong type (a JSON null included); a value out of bounds;
// `max_attempts` with schedule "custom"; `delays_s` (even []) with "exponential"; an item of
// `delays_s` ("retry_policy.delays_s[3]"). Integers may be written 5 or 5.0; jitter is any number.
core::Result<RetryPolicy> ParseRetryPolicy(const boost::json::value* value);
// The response (and stored) shape: {"schedule", "initial_delay_s", "max_delay_s",
// "max_attempts" (exponential only), "delays_s" (custom only), "jitter", "disable_on_4xx"}: the
// fields a request may give for that schedule, so a GET body's policy can be sent back as is.
boost::json::object RenderRetryPolicy(const RetryPolicy& policy);
// The stored form: the request form as JSON text (no derived max_attempts for "custom"), which
// ParseStoredRetryPolicy reads back; a stored text that does not parse is Internal.
std::string StoredRetryPolicy(const RetryPolicy& policy);
core::Result<RetryPolicy> ParseStoredRetryPolicy(std::string_view text);

// The attempts a delivery makes in all: max_attempts, or for "custom" delays_s.size() + 1.
int MaxAttempts(const RetryPolicy& policy);

// A uniform random source in [0, 1); injected so tests are deterministic.
using Uniform01 = std::function<double()>;
// std::mt19937_64 seeded with `seed`, 53 random bits per value (never 1.0). Each copy of the
// returned function shares one generator; not thread-safe.
Uniform01 SeededUniform(uint64_t seed);

struct AttemptOutcome {
  std::optional<int> status;               // HTTP status, when a status line was read
  bool transport_error = false;            // timeout, refused, reset, dns, tls, guard, invalid
  std::optional<std::string> retry_after;  // the Retry-After header value, if any
};

enum class Verdict { kSucceeded, kRetry, kFailed, kDisable };

struct Decision {
  Verdict verdict = Verdict::kFailed;
  std::optional<core::TimePoint> next_attempt_at;  // kRetry only
  std::optional<std::string> disable_reason;       // kDisable: "http_410" or "http_4xx"
  bool exhausted = false;                          // kFailed because attempts ran out
  std::chrono::milliseconds wait{0};               // kRetry: next_attempt_at - now
};

// The verdict on attempt `attempt_number` (1-based; below 1 counts as 1), which ended at `now`:
// - a status line decides when there is one (a later transport error does not matter):
//   2xx succeeds; 410 disables ("http_410"); with disable_on_4xx, any other 4xx but 408 and 429
//   disables ("http_4xx"); any other status (1xx, 3xx: redirects are not followed, 4xx, 5xx)
//   is a failed attempt;
// - no status line is a failed attempt (a transport error);
// - a failed attempt is retried unless it was the last (attempt_number >= MaxAttempts): then
//   kFailed with `exhausted`;
// - the wait before attempt n+1: exponential initial_delay_s * 2^(n-1) capped at max_delay_s;
//   custom delays_s[n-1]; times a factor uniform in [1 - jitter, 1 + jitter) (from `uniform`,
//   clamped to [0, 1)); the exponential wait after jitter is clamped to max_delay_s again;
// - after a 429 or 503 with a Retry-After that ParseRetryAfter reads, the wait is at least
//   min(retry_after, max_delay_s); an unreadable or past Retry-After is ignored.
// Waits are whole milliseconds (rounded to nearest).
Decision Decide(const RetryPolicy& policy, int attempt_number, const AttemptOutcome& outcome,
                core::TimePoint now, const Uniform01& uniform);

// Parses a Retry-After value (RFC 9110 §10.2.3) relative to `now`: delta-seconds (digits only,
// optional surrounding spaces and tabs; huge values saturate), or an HTTP-date in IMF-fixdate
// ("Sun, 06 Nov 1994 08:49:37 GMT"), RFC 850 ("Sunday, 06-Nov-94 08:49:37 GMT"; a two-digit
// year more than 50 years ahead of `now` is the previous century's) or asctime
// ("Sun Nov  6 08:49:37 1994") form. Day and month names are matched case-insensitively and the
// day name is not checked against the date. nullopt when unparsable or when the date is before
// `now`.
std::optional<std::chrono::milliseconds> ParseRetryAfter(std::string_view value,
                                                         core::TimePoint now);

}  // namespace learnwire::delivery
