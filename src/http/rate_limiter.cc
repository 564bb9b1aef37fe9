#include "http/rate_limiter.h"

#include <algorithm>
#include <functional>
#include <mutex>
#include <unordered_map>

namespace learnwire::http {
namespace {

// Keys spread over independent locks so that concurrent requests of different keys rarely wait
// for each other.
constexpr std::size_t kShards = 16;

std::size_t ShardOf(const std::string& key) { return std::hash<std::string>{}(key) % kShards; }

std::size_t PerShard(std::size_t max_keys) { return std::max<std::size_t>(1, max_keys / kShards); }

int64_t CeilDiv(int64_t a, int64_t b) { return (a + b - 1) / b; }

}  // namespace

// ---------------------------------------------------------------------------------------------
// RateLimiter. Tokens are counted in thousandths so that refill by elapsed milliseconds is exact
// integer arithmetic: rate r adds r milli-tokens per millisecond.

struct RateLimiter::Shard {
  struct Bucket {
    int64_t milli_tokens = 0;
    int64_t updated_ms = 0;
  };
  std::mutex mu;
  std::unordered_map<std::string, Bucket> buckets;
};

RateLimiter::RateLimiter(int64_t rate_per_s, const core::Clock& clock, std::size_t max_keys)
    : rate_per_s_(std::max<int64_t>(0, rate_per_s)),
      clock_(clock),
      max_keys_per_shard_(PerShard(max_keys)),
      shards_(std::make_unique<Shard[]>(kShards)) {}

RateLimiter::~RateLimiter() = default;

RateLimiter::Decision RateLimiter::Take(const std::string& key) {
  if (!enabled()) {
    return Decision{};
  }
  const int64_t capacity = burst() * 1000;
  const int64_t now = core::ToUnixMs(clock_.Now());
  auto refill = [&](Shard::Bucket& b) {
    int64_t elapsed = std::max<int64_t>(0, now - b.updated_ms);
    // Guard the multiplication: anything past a full refill is a full bucket.
    if (elapsed >= CeilDiv(capacity, rate_per_s_)) {
      b.milli_tokens = capacity;
    } else {
      b.milli_tokens = std::min(capacity, b.milli_tokens + elapsed * rate_per_s_);
    }
    b.updated_ms = std::max(b.updated_ms, now);
  };

  Shard& shard = shards_[ShardOf(key)];
  std::lock_guard<std::mutex> lock(shard.mu);
  auto it = shard.buckets.find(key);
  if (it == shard.buckets.end()) {
    if (shard.buckets.size() >= max_keys_per_shard_) {
      // A full bucket is indistinguishable from a new one, so forgetting it loses nothing.
      for (auto e = shard.buckets.begin(); e != shard.buckets.end();) {
        refill(e->second);
        e = e->second.milli_tokens >= capacity ? shard.buckets.erase(e) : std::next(e);
      }
      if (shard.buckets.size() >= max_keys_per_shard_) {
        shard.buckets.clear();  // every key is busy: fail open rather than grow without bound
      }
    }
    it = shard.buckets.emplace(key, Shard::Bucket{capacity, now}).first;
  }
  Shard::Bucket& bucket = it->second;
  refill(bucket);

  Decision decision;
  if (bucket.milli_tokens >= 1000) {
    bucket.milli_tokens -= 1000;
    decision.allowed = true;
    decision.remaining = bucket.milli_tokens / 1000;
    return decision;
  }
  decision.allowed = false;
  decision.remaining = 0;
  int64_t missing_ms = CeilDiv(1000 - bucket.milli_tokens, rate_per_s_);
  decision.retry_after_s = std::max<int64_t>(1, CeilDiv(missing_ms, 1000));
  return decision;
}

std::size_t RateLimiter::KeyCount() const {
  std::size_t n = 0;
  for (std::size_t i = 0; i < kShards; ++i) {
    std::lock_guard<std::mutex> lock(shards_[i].mu);
    n += shards_[i].buckets.size();
  }
  return n;
}

// ---------------------------------------------------------------------------------------------
// FailureCounter.

struct FailureCounter::Shard {
  struct Window {
    int64_t start_ms = 0;
    int64_t count = 0;
  };
  mutable std::mutex mu;
  std::unordered_map<std::string, Window> windows;
};

FailureCounter::FailureCounter(const core::Clock& clock, std::chrono::milliseconds window,
                               std::size_t max_keys)
    : clock_(clock),
      window_ms_(std::max<int64_t>(1, window.count())),
      max_keys_per_shard_(PerShard(max_keys)),
      shards_(std::make_unique<Shard[]>(kShards)) {}

FailureCounter::~FailureCounter() = default;

void FailureCounter::Add(const std::string& key) {
  const int64_t now = core::ToUnixMs(clock_.Now());
  auto expired = [&](const Shard::Window& w) { return now - w.start_ms >= window_ms_; };
  Shard& shard = shards_[ShardOf(key)];
  std::lock_guard<std::mutex> lock(shard.mu);
  auto it = shard.windows.find(key);
  if (it == shard.windows.end()) {
    if (shard.windows.size() >= max_keys_per_shard_) {
      std::erase_if(shard.windows, [&](const auto& entry) { return expired(entry.second); });
      if (shard.windows.size() >= max_keys_per_shard_) {
        shard.windows.clear();  // flooded with fresh keys: fail open rather than grow
      }
    }
    shard.windows.emplace(key, Shard::Window{now, 1});
    return;
  }
  if (expired(it->second)) {
    it->second = Shard::Window{now, 1};
    return;
  }
  ++it->second.count;
}

int64_t FailureCounter::Count(const std::string& key) const {
  const int64_t now = core::ToUnixMs(clock_.Now());
  const Shard& shard = shards_[ShardOf(key)];
  std::lock_guard<std::mutex> lock(shard.mu);
  auto it = shard.windows.find(key);
  if (it == shard.windows.end() || now - it->second.start_ms >= window_ms_) {
    return 0;
  }
  return it->second.count;
}

int64_t FailureCounter::RetryAfterSeconds(const std::string& key) const {
  const int64_t now = core::ToUnixMs(clock_.Now());
  const Shard& shard = shards_[ShardOf(key)];
  std::lock_guard<std::mutex> lock(shard.mu);
  auto it = shard.windows.find(key);
  if (it == shard.windows.end()) {
    return 1;
  }
  int64_t left_ms = it->second.start_ms + window_ms_ - now;
  return std::max<int64_t>(1, CeilDiv(left_ms, 1000));
}

std::size_t FailureCounter::KeyCount() const {
  std::size_t n = 0;
  for (std::size_t i = 0; i < kShards; ++i) {
    std::lock_guard<std::mutex> lock(shards_[i].mu);
    n += shards_[i].windows.size();
  }
  return n;
}

}  // namespace learnwire::http
