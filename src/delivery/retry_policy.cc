#include "delivery/retry_policy.h"

#include <algorithm>
#include <boost/json/array.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <cmath>
#include <limits>
#include <memory>
#include <random>

#include "delivery/http_date.h"

namespace learnwire::delivery {
namespace json = boost::json;

namespace {

constexpr std::string_view kExponential = "exponential";
constexpr std::string_view kCustom = "custom";

std::string Field(std::string_view name) { return "retry_policy." + std::string(name); }

// An integer written as 5 or 5.0 (JSON has one number type); nullopt for anything else.
std::optional<int64_t> AsInteger(const json::value& v) {
  if (v.is_int64()) {
    return v.get_int64();
  }
  if (v.is_uint64()) {
    uint64_t u = v.get_uint64();
    return u > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())
               ? std::numeric_limits<int64_t>::max()
               : static_cast<int64_t>(u);
  }
  if (v.is_double()) {
    double d = v.get_double();
    if (std::isfinite(d) && d == std::trunc(d) && std::fabs(d) < 9.0e15) {
      return static_cast<int64_t>(d);
    }
  }
  return std::nullopt;
}

Decision Make(Verdict verdict) {
  Decision d;
  d.verdict = verdict;
  return d;
}

Decision Disable(std::string reason) {
  Decision d = Make(Verdict::kDisable);
  d.disable_reason = std::move(reason);
  return d;
}

std::string IntegerRange(int64_t lo, int64_t hi) {
  return "must be an integer from " + std::to_string(lo) + " to " + std::to_string(hi);
}

// Reads an integer field within [lo, hi] into `out`, or records the error.
void ReadInt(const json::value& v, std::string field, int64_t lo, int64_t hi, int& out,
             std::vector<core::FieldError>& errors) {
  std::optional<int64_t> n = AsInteger(v);
  if (!n || *n < lo || *n > hi) {
    errors.push_back({std::move(field), IntegerRange(lo, hi)});
    return;
  }
  out = static_cast<int>(*n);
}

void ReadDelays(const json::value& v, RetryPolicy& policy, std::vector<core::FieldError>& errors) {
  if (!v.is_array() || v.get_array().size() > kMaxCustomDelays) {
    errors.push_back({Field("delays_s"), "must be an array of at most 99 integers from 1 to " +
                                             std::to_string(kMaxCustomDelayS)});
    return;
  }
  const json::array& items = v.get_array();
  policy.delays_s.assign(items.size(), 0);
  for (std::size_t i = 0; i < items.size(); ++i) {
    ReadInt(items[i], Field("delays_s[" + std::to_string(i) + "]"), kMinCustomDelayS,
            kMaxCustomDelayS, policy.delays_s[i], errors);
  }
}

}  // namespace

core::Result<RetryPolicy> ParseRetryPolicy(const json::value* value) {
  RetryPolicy policy;
  if (value == nullptr || value->is_null()) {
    return policy;
  }
  if (!value->is_object()) {
    return core::Status::Invalid("retry_policy", "must be an object");
  }
  const json::object& obj = value->get_object();
  std::vector<core::FieldError> errors;
  // The schedule first: the fields of one schedule are refused with the other, whatever their
  // values (with an invalid schedule, every field is checked on its own).
  std::optional<Schedule> schedule = Schedule::kExponential;
  if (const json::value* v = obj.if_contains("schedule")) {
    if (v->is_string() && v->get_string() == kExponential) {
      schedule = Schedule::kExponential;
    } else if (v->is_string() && v->get_string() == kCustom) {
      schedule = Schedule::kCustom;
    } else {
      schedule = std::nullopt;
      errors.push_back({Field("schedule"), "must be \"exponential\" or \"custom\""});
    }
  }
  policy.schedule = schedule.value_or(Schedule::kExponential);
  for (const json::key_value_pair& kv : obj) {
    std::string_view key = kv.key();
    const json::value& v = kv.value();
    if (key == "schedule") {
      continue;
    } else if (key == "initial_delay_s") {
      ReadInt(v, Field(key), kMinInitialDelayS, kMaxInitialDelayS, policy.initial_delay_s, errors);
    } else if (key == "max_delay_s") {
      ReadInt(v, Field(key), kMinMaxDelayS, kMaxMaxDelayS, policy.max_delay_s, errors);
    } else if (key == "max_attempts" && schedule == Schedule::kCustom) {
      errors.push_back({Field(key),
                        "must not be set with schedule \"custom\": it makes len(delays_s) + 1 "
                        "attempts"});
    } else if (key == "max_attempts") {
      ReadInt(v, Field(key), kMinMaxAttempts, kMaxMaxAttempts, policy.max_attempts, errors);
    } else if (key == "delays_s" && schedule == Schedule::kExponential) {
      errors.push_back({Field(key), "is only for schedule \"custom\""});
    } else if (key == "delays_s") {
      ReadDelays(v, policy, errors);
    } else if (key == "jitter") {
      double j = v.is_double()   ? v.get_double()
                 : v.is_int64()  ? static_cast<double>(v.get_int64())
                 : v.is_uint64() ? static_cast<double>(v.get_uint64())
                                 : -1.0;
      if (!(j >= 0.0 && j <= 1.0)) {
        errors.push_back({Field(key), "must be a number from 0 to 1"});
      } else {
        policy.jitter = j;
      }
    } else if (key == "disable_on_4xx") {
      if (!v.is_bool()) {
        errors.push_back({Field(key), "must be true or false"});
      } else {
        policy.disable_on_4xx = v.get_bool();
      }
    } else {
      errors.push_back({Field(key),
                        "is not a retry_policy field (schedule, initial_delay_s, max_delay_s, "
                        "max_attempts, delays_s, jitter, disable_on_4xx)"});
    }
  }
  if (!errors.empty()) {
    return core::Status::Invalid(std::move(errors));
  }
  return policy;
}

json::object RenderRetryPolicy(const RetryPolicy& policy) {
  json::object out;
  bool custom = policy.schedule == Schedule::kCustom;
  out["schedule"] = custom ? kCustom : kExponential;
  out["initial_delay_s"] = policy.initial_delay_s;
  out["max_delay_s"] = policy.max_delay_s;
  // Custom schedules have no max_attempts field (len(delays_s) + 1 attempts): a policy read
  // back from GET can be sent again unchanged.
  if (!custom) {
    out["max_attempts"] = policy.max_attempts;
  }
  if (custom) {
    json::array delays;
    for (int d : policy.delays_s) {
      delays.push_back(d);
    }
    out["delays_s"] = std::move(delays);
  }
  out["jitter"] = policy.jitter;
  out["disable_on_4xx"] = policy.disable_on_4xx;
  return out;
}

std::string StoredRetryPolicy(const RetryPolicy& policy) {
  return json::serialize(RenderRetryPolicy(policy));
}

core::Result<RetryPolicy> ParseStoredRetryPolicy(std::string_view text) {
  boost::system::error_code ec;
  json::value v = json::parse(text, ec);
  if (ec) {
    return core::Internal("stored retry_policy is not JSON: " + ec.message());
  }
  core::Result<RetryPolicy> policy = ParseRetryPolicy(&v);
  if (!policy.ok()) {
    const auto& fields = policy.status().fields();
    return core::Internal(
        "stored retry_policy is invalid" +
        (fields.empty() ? std::string() : ": " + fields[0].field + " " + fields[0].message));
  }
  return policy;
}

int MaxAttempts(const RetryPolicy& policy) {
  return policy.schedule == Schedule::kCustom ? static_cast<int>(policy.delays_s.size()) + 1
                                              : policy.max_attempts;
}

Uniform01 SeededUniform(uint64_t seed) {
  auto gen = std::make_shared<std::mt19937_64>(seed);
  // The top 53 bits scaled by 2^-53: uniform in [0, 1) and never 1.0, which
  // std::uniform_real_distribution does not promise.
  return [gen] { return static_cast<double>((*gen)() >> 11) * 0x1.0p-53; };
}

Decision Decide(const RetryPolicy& policy, int attempt_number, const AttemptOutcome& outcome,
                core::TimePoint now, const Uniform01& uniform) {
  int n = std::max(attempt_number, 1);
  std::optional<int> status = outcome.status;
  if (status && *status >= 200 && *status <= 299) {
    return Make(Verdict::kSucceeded);
  }
  if (status && *status == 410) {
    return Disable("http_410");
  }
  if (status && policy.disable_on_4xx && *status >= 400 && *status <= 499 && *status != 408 &&
      *status != 429) {
    return Disable("http_4xx");
  }
  if (n >= MaxAttempts(policy)) {
    Decision d = Make(Verdict::kFailed);
    d.exhausted = true;
    return d;
  }
  bool exponential = policy.schedule == Schedule::kExponential;
  double max_ms = std::max(policy.max_delay_s, 0) * 1000.0;
  // ldexp cannot overflow here: 3,600 * 2^98 is far inside a double's range.
  double base_ms = exponential
                       ? std::min(std::ldexp(policy.initial_delay_s * 1000.0, n - 1), max_ms)
                       : policy.delays_s[static_cast<std::size_t>(n - 1)] * 1000.0;
  double u = uniform ? uniform() : 0.5;
  if (!(u >= 0.0)) {
    u = 0.0;
  } else if (!(u < 1.0)) {
    u = std::nextafter(1.0, 0.0);
  }
  double jitter = std::clamp(policy.jitter, 0.0, 1.0);
  double wait_ms = base_ms * (1.0 - jitter + 2.0 * jitter * u);
  if (exponential) {
    wait_ms = std::min(wait_ms, max_ms);
  }
  int64_t wait = std::max<int64_t>(std::llround(wait_ms), 0);
  if (status && (*status == 429 || *status == 503) && outcome.retry_after) {
    if (std::optional<std::chrono::milliseconds> ra = ParseRetryAfter(*outcome.retry_after, now)) {
      wait = std::max(wait, std::min<int64_t>(ra->count(), std::llround(max_ms)));
    }
  }
  Decision d = Make(Verdict::kRetry);
  d.wait = std::chrono::milliseconds(wait);
  d.next_attempt_at = now + d.wait;
  return d;
}

std::optional<std::chrono::milliseconds> ParseRetryAfter(std::string_view value,
                                                         core::TimePoint now) {
  while (!value.empty() && (value.front() == ' ' || value.front() == '\t')) {
    value.remove_prefix(1);
  }
  while (!value.empty() && (value.back() == ' ' || value.back() == '\t')) {
    value.remove_suffix(1);
  }
  if (value.empty()) {
    return std::nullopt;
  }
  if (std::all_of(value.begin(), value.end(), [](char c) { return c >= '0' && c <= '9'; })) {
    // delta-seconds; anything past ~3,000 years saturates (it is capped at max_delay_s anyway).
    constexpr int64_t kSaturated = 100'000'000'000;
    int64_t seconds = 0;
    for (char c : value) {
      seconds = std::min(seconds * 10 + (c - '0'), kSaturated);
    }
    return std::chrono::milliseconds(seconds * 1000);
  }
  std::optional<std::chrono::sys_seconds> date =
      ParseHttpDate(value, std::chrono::floor<std::chrono::seconds>(now));
  if (!date) {
    return std::nullopt;
  }
  auto delta = std::chrono::duration_cast<std::chrono::milliseconds>(*date - now);
  if (delta.count() < 0) {
    return std::nullopt;
  }
  return delta;
}

}  // namespace learnwire::delivery
