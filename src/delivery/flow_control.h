// Per-subscription flow control of one dispatcher, in memory (so per worker node, as
// ARCHITECTURE.md "Caps" says): the adaptive concurrency of WEBHOOKS.md §4 (429, 503 and timeouts
// halve a subscription's limit, down to 1; each 2xx raises it by one, up to the cap) and
// `rate_limit_per_s` (§1: at most that many POSTs a second, as a token bucket holding a tenth of a
// second's worth, at least one). Time is given by the
// caller in milliseconds of a monotonic clock, so tests inject it. Not thread-safe: the
// dispatcher thread owns it.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>

#include "delivery/http_client.h"

namespace learnwire::delivery {

class FlowControl {
 public:
  explicit FlowControl(int cap) : cap_(cap) {}

  // How many more attempts of the subscription may start at `now_ms`, with `in_flight` running:
  // its concurrency limit minus in flight, and no more than its rate allows (`rate_per_s`, none
  // when empty). Never negative.
  int Allowance(const std::string& webhook_id, int in_flight, std::optional<int> rate_per_s,
                int64_t now_ms);
  // `n` attempts of the subscription started at `now_ms` (they use up the rate's allowance).
  void Started(const std::string& webhook_id, int n, std::optional<int> rate_per_s, int64_t now_ms);
  // An attempt of the subscription ended with `result`.
  void Finished(const std::string& webhook_id, const AttemptResult& result);
  // When the subscription's rate next lets an attempt start (nullopt: it does now, or has no
  // rate).
  std::optional<int64_t> NextStartAt(const std::string& webhook_id, std::optional<int> rate_per_s,
                                     int64_t now_ms) const;
  // The subscription's current concurrency limit (the cap until an outcome lowers it).
  int Limit(const std::string& webhook_id) const;
  // Forgets what it knows of subscriptions not in use, so the map stays bounded.
  void Forget(const std::string& webhook_id);

 private:
  struct State {
    int limit = 0;
    bool rated = false;  // the rate's bucket is in use (full at first use)
    double tokens = 0;
    int64_t refilled_ms = 0;
  };
  State& Of(const std::string& webhook_id);
  // Refills the bucket up to `now_ms`; returns the tokens available.
  static double Refill(State& s, int rate_per_s, int64_t now_ms);

  int cap_;
  std::map<std::string, State> states_;
};

}  // namespace learnwire::delivery
