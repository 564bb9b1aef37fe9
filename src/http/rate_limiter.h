// Request rate limits kept in memory, one node at a time (API.md "Rate limits").
// RateLimiter: a token bucket per key (an API key id). FailureCounter: events per key in fixed
// windows (failed authentications per client address). Both are thread-safe, read time from an
// injected clock, and bound their memory by forgetting keys whose state is back to the default.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "core/clock.h"

namespace learnwire::http {

class RateLimiter {
 public:
  struct Decision {
    bool allowed = true;
    int64_t remaining = 0;      // whole tokens left after this request
    int64_t retry_after_s = 0;  // when refused: seconds until one token is back (at least 1)
  };

  // `rate_per_s` tokens are added every second up to a burst of 2 × rate; 0 turns limiting off.
  // `clock` must outlive the limiter. `max_keys` bounds the buckets kept (approximately).
  RateLimiter(int64_t rate_per_s, const core::Clock& clock, std::size_t max_keys = 100'000);
  ~RateLimiter();
  RateLimiter(const RateLimiter&) = delete;
  RateLimiter& operator=(const RateLimiter&) = delete;

  // Takes one token from `key`'s bucket. Always allowed when the limiter is off.
  Decision Take(const std::string& key);

  bool enabled() const { return rate_per_s_ > 0; }
  int64_t rate_per_s() const { return rate_per_s_; }
  int64_t burst() const { return 2 * rate_per_s_; }
  // Buckets currently held (for tests and metrics).
  std::size_t KeyCount() const;

 private:
  struct Shard;
  const int64_t rate_per_s_;
  const core::Clock& clock_;
  const std::size_t max_keys_per_shard_;
  std::unique_ptr<Shard[]> shards_;
};

// Counts events per key in fixed windows (default one minute): the window starts at the first
// event of a key and resets once it has passed.
//
// The rule "more than N failures a minute -> 429": before authenticating, refuse when
// Exceeded(key, N); after a failure, Add(key) and refuse when Exceeded(key, N) now holds.
class FailureCounter {
 public:
  explicit FailureCounter(const core::Clock& clock,
                          std::chrono::milliseconds window = std::chrono::seconds(60),
                          std::size_t max_keys = 100'000);
  ~FailureCounter();
  FailureCounter(const FailureCounter&) = delete;
  FailureCounter& operator=(const FailureCounter&) = delete;

  void Add(const std::string& key);
  // Events of `key` in the current window.
  int64_t Count(const std::string& key) const;
  // True when more than `limit` events happened in the current window.
  bool Exceeded(const std::string& key, int64_t limit) const { return Count(key) > limit; }
  // Seconds until `key`'s window ends (at least 1), for Retry-After.
  int64_t RetryAfterSeconds(const std::string& key) const;
  std::size_t KeyCount() const;

 private:
  struct Shard;
  const core::Clock& clock_;
  const int64_t window_ms_;
  const std::size_t max_keys_per_shard_;
  std::unique_ptr<Shard[]> shards_;
};

}  // namespace learnwire::http
