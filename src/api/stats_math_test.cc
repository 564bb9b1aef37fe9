#include "api/stats_math.h"

#include <gtest/gtest.h>

#include "core/time_format.h"

namespace learnwire::api {
namespace {

constexpr int64_t kNow = 1'800'000'000'000;  // 2027-01-15T08:00:00Z

TEST(PercentileTest, IsNullWithoutValues) { EXPECT_EQ(Percentile({}, 50), std::nullopt); }

TEST(PercentileTest, TakesTheNearestRank) {
  const std::vector<int64_t> v = {15, 20, 35, 40, 50};
  EXPECT_EQ(Percentile(v, 5), 15);    // rank ceil(0.25) = 1
  EXPECT_EQ(Percentile(v, 30), 20);   // rank ceil(1.5) = 2
  EXPECT_EQ(Percentile(v, 40), 20);   // rank 2 exactly
  EXPECT_EQ(Percentile(v, 50), 35);   // rank ceil(2.5) = 3
  EXPECT_EQ(Percentile(v, 100), 50);  // the largest
  EXPECT_EQ(Percentile({7}, 99), 7);
}

TEST(PercentileTest, WholeRanksAreExact) {
  // 95 % of 20 is rank 19 exactly; a floating-point product could round up to 20.
  std::vector<int64_t> v;
  for (int64_t i = 1; i <= 20; ++i) {
    v.push_back(i * 10);
  }
  EXPECT_EQ(Percentile(v, 95), 190);
  EXPECT_EQ(Percentile(v, 50), 100);
  EXPECT_EQ(Percentile(v, 99), 200);
}

TEST(BucketGridTest, CountsPartialLastBucket) {
  BucketGrid g{0, 125'000, 60'000};
  EXPECT_EQ(g.Count(), 3u);
  EXPECT_EQ(g.StartOf(2), 120'000);
  EXPECT_EQ((BucketGrid{0, 120'000, 60'000}.Count()), 2u);
}

TEST(BucketGridTest, PlacesTimesInHalfOpenBuckets) {
  BucketGrid g{1000, 181'000, 60'000};
  EXPECT_EQ(g.IndexOf(999), std::nullopt);
  EXPECT_EQ(g.IndexOf(1000), 0u);
  EXPECT_EQ(g.IndexOf(60'999), 0u);
  EXPECT_EQ(g.IndexOf(61'000), 1u);
  EXPECT_EQ(g.IndexOf(180'999), 2u);
  EXPECT_EQ(g.IndexOf(181'000), std::nullopt);
}

TEST(ParseBucketGridTest, DefaultsToTheLastHourByMinute) {
  auto g = ParseBucketGrid({}, {}, {}, kNow);
  ASSERT_TRUE(g.ok());
  EXPECT_EQ(g->until_ms, kNow);
  EXPECT_EQ(g->since_ms, kNow - 3'600'000);
  EXPECT_EQ(g->width_ms, 60'000);
  EXPECT_EQ(g->Count(), 60u);
}

TEST(ParseBucketGridTest, SinceDefaultsToAnHourBeforeUntil) {
  auto g = ParseBucketGrid({}, "2027-01-01T12:00:00+02:00", "600", kNow);
  ASSERT_TRUE(g.ok());
  EXPECT_EQ(core::FormatTime(g->since_ms), "2027-01-01T09:00:00.000Z");
  EXPECT_EQ(g->Count(), 6u);
}

TEST(ParseBucketGridTest, AcceptsTheLimits) {
  EXPECT_TRUE(ParseBucketGrid("2027-01-01T00:00:00Z", "2027-01-01T04:00:00Z", "10", kNow).ok());
  EXPECT_TRUE(ParseBucketGrid("2026-01-01T00:00:00Z", "2027-01-01T00:00:00Z", "86400", kNow)
                  .ok());  // 365 days
}

TEST(ParseBucketGridTest, RefusesBadValuesNamingTheField) {
  struct Case {
    std::optional<std::string> since, until, bucket_s;
    const char* field;
  };
  const Case cases[] = {
      {"yesterday", {}, {}, "since"},
      {{}, "2027-13-01T00:00:00Z", {}, "until"},
      {"2027-01-01T01:00:00Z", "2027-01-01T01:00:00Z", {}, "since"},  // empty range
      {"2027-01-01T02:00:00Z", "2027-01-01T01:00:00Z", {}, "since"},  // reversed
      {{}, {}, "9", "bucket_s"},
      {{}, {}, "86401", "bucket_s"},
      {{}, {}, "60.5", "bucket_s"},
      {{}, {}, "+60", "bucket_s"},
      {{}, {}, " 60", "bucket_s"},
      {{}, {}, "", "bucket_s"},
      {{}, {}, "99999999999999999999", "bucket_s"},
      // 4 h 0 min 10 s by 10 s: 1,441 buckets.
      {"2027-01-01T00:00:00Z", "2027-01-01T04:00:10Z", "10", "bucket_s"},
  };
  for (const Case& c : cases) {
    auto g = ParseBucketGrid(c.since, c.until, c.bucket_s, kNow);
    ASSERT_FALSE(g.ok()) << c.field;
    ASSERT_EQ(g.status().fields().size(), 1u);
    EXPECT_EQ(g.status().fields()[0].field, c.field)
        << c.since.value_or("-") << " " << c.until.value_or("-") << " " << c.bucket_s.value_or("-");
  }
}

}  // namespace
}  // namespace learnwire::api
