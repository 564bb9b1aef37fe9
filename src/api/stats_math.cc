#include "api/stats_math.h"

#include <algorithm>
#include <charconv>

#include "core/time_format.h"

namespace learnwire::api {

namespace {

constexpr int64_t kDefaultSpanMs = 3600 * 1000;
constexpr int64_t kDefaultBucketS = 60;
constexpr int64_t kMinBucketS = 10;
constexpr int64_t kMaxBucketS = 86400;

}  // namespace

std::optional<int64_t> Percentile(const std::vector<int64_t>& sorted, int percent) {
  if (sorted.empty()) {
    return std::nullopt;
  }
  // Integer ceiling: a double product such as 0.95 · 20 may land a hair above the whole rank.
  const std::size_t rank = (static_cast<std::size_t>(percent) * sorted.size() + 99) / 100;
  return sorted[std::max<std::size_t>(rank, 1) - 1];
}

std::size_t BucketGrid::Count() const {
  return static_cast<std::size_t>((until_ms - since_ms + width_ms - 1) / width_ms);
}

std::optional<std::size_t> BucketGrid::IndexOf(int64_t t) const {
  if (t < since_ms || t >= until_ms) {
    return std::nullopt;
  }
  return static_cast<std::size_t>((t - since_ms) / width_ms);
}

core::Result<BucketGrid> ParseBucketGrid(const std::optional<std::string>& since,
                                         const std::optional<std::string>& until,
                                         const std::optional<std::string>& bucket_s,
                                         int64_t now_ms) {
  BucketGrid g;
  g.until_ms = now_ms;
  if (until) {
    std::optional<int64_t> t = core::ParseTime(*until);
    if (!t) {
      return core::Status::Invalid("until", "must be an RFC 3339 time");
    }
    g.until_ms = *t;
  }
  g.since_ms = g.until_ms - kDefaultSpanMs;
  if (since) {
    std::optional<int64_t> t = core::ParseTime(*since);
    if (!t) {
      return core::Status::Invalid("since", "must be an RFC 3339 time");
    }
    g.since_ms = *t;
  }
  if (g.since_ms >= g.until_ms) {
    return core::Status::Invalid("since", "must be before until");
  }
  int64_t width_s = kDefaultBucketS;
  if (bucket_s) {
    const char* end = bucket_s->data() + bucket_s->size();
    auto [p, ec] = std::from_chars(bucket_s->data(), end, width_s);
    if (bucket_s->empty() || ec != std::errc() || p != end || width_s < kMinBucketS ||
        width_s > kMaxBucketS) {
      return core::Status::Invalid("bucket_s", "must be an integer from 10 to 86400");
    }
  }
  g.width_ms = width_s * 1000;
  if (g.Count() > kMaxBuckets) {
    return core::Status::Invalid("bucket_s",
                                 "gives more than 1440 buckets between since and until");
  }
  return g;
}

}  // namespace learnwire::api
