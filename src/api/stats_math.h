// The arithmetic of the delivery statistics (WEBHOOKS.md §6, API.md /stats/deliveries): nearest-
// rank percentiles and the bucket grid of a time range, with its query parameters' validation.
// Pure functions and values; no I/O.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "core/status.h"

namespace learnwire::api {

// The nearest-rank percentile: the value at 1-based rank ceil(percent/100 · n) of `sorted`
// (ascending), so at least `percent`% of the values are at or below it. nullopt when empty.
// `percent` is 1-100.
std::optional<int64_t> Percentile(const std::vector<int64_t>& sorted, int percent);

// Fixed-width buckets over [since, until), aligned to `since`: bucket k starts at
// since + k·width; the last one may reach past `until` (nothing at or after `until` counts).
struct BucketGrid {
  int64_t since_ms = 0;
  int64_t until_ms = 0;
  int64_t width_ms = 0;

  std::size_t Count() const;
  int64_t StartOf(std::size_t k) const { return since_ms + static_cast<int64_t>(k) * width_ms; }
  // The bucket holding `t`, or nullopt outside [since, until).
  std::optional<std::size_t> IndexOf(int64_t t) const;
};

inline constexpr std::size_t kMaxBuckets = 1440;

// The grid of GET /stats/deliveries from its (optional) query values: until defaults to `now_ms`,
// since to until − 1 h, bucket_s to 60. since/until are RFC 3339, since < until, bucket_s an
// integer 10–86,400, at most kMaxBuckets buckets; else a 422 Status naming the field.
core::Result<BucketGrid> ParseBucketGrid(const std::optional<std::string>& since,
                                         const std::optional<std::string>& until,
                                         const std::optional<std::string>& bucket_s,
                                         int64_t now_ms);

}  // namespace learnwire::api
