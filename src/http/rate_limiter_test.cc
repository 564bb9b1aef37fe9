#include "http/rate_limiter.h"

#include <gtest/gtest.h>

namespace learnwire::http {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

TEST(RateLimiterTest, AllowsABurstOfTwiceTheRate) {
  core::ManualClock clock;
  RateLimiter limiter(5, clock);
  for (int i = 0; i < 10; ++i) {
    EXPECT_TRUE(limiter.Take("k").allowed) << i;
  }
  EXPECT_FALSE(limiter.Take("k").allowed);
}

TEST(RateLimiterTest, RemainingCountsWholeTokensLeft) {
  core::ManualClock clock;
  RateLimiter limiter(5, clock);
  EXPECT_EQ(limiter.Take("k").remaining, 9);
  EXPECT_EQ(limiter.Take("k").remaining, 8);
}

TEST(RateLimiterTest, RefusalSaysWhenToRetry) {
  core::ManualClock clock;
  RateLimiter limiter(1, clock);
  limiter.Take("k");
  limiter.Take("k");
  RateLimiter::Decision d = limiter.Take("k");
  EXPECT_FALSE(d.allowed);
  EXPECT_EQ(d.remaining, 0);
  EXPECT_EQ(d.retry_after_s, 1);
}

TEST(RateLimiterTest, RetryAfterRoundsUpToWholeSeconds) {
  core::ManualClock clock;
  RateLimiter limiter(1, clock);
  limiter.Take("k");
  limiter.Take("k");
  clock.Advance(milliseconds(100));
  EXPECT_EQ(limiter.Take("k").retry_after_s, 1);
}

TEST(RateLimiterTest, RefillsAtTheRate) {
  core::ManualClock clock;
  RateLimiter limiter(10, clock);
  for (int i = 0; i < 20; ++i) {
    ASSERT_TRUE(limiter.Take("k").allowed);
  }
  EXPECT_FALSE(limiter.Take("k").allowed);
  clock.Advance(milliseconds(99));
  EXPECT_FALSE(limiter.Take("k").allowed);
  clock.Advance(milliseconds(1));
  EXPECT_TRUE(limiter.Take("k").allowed);
  EXPECT_FALSE(limiter.Take("k").allowed);
}

TEST(RateLimiterTest, RefillStopsAtBurst) {
  core::ManualClock clock;
  RateLimiter limiter(3, clock);
  limiter.Take("k");
  clock.Advance(seconds(3600));
  EXPECT_EQ(limiter.Take("k").remaining, 5);
}

TEST(RateLimiterTest, KeysHaveSeparateBuckets) {
  core::ManualClock clock;
  RateLimiter limiter(1, clock);
  limiter.Take("a");
  limiter.Take("a");
  EXPECT_FALSE(limiter.Take("a").allowed);
  EXPECT_TRUE(limiter.Take("b").allowed);
}

TEST(RateLimiterTest, ZeroRateIsOff) {
  core::ManualClock clock;
  RateLimiter limiter(0, clock);
  EXPECT_FALSE(limiter.enabled());
  for (int i = 0; i < 1000; ++i) {
    ASSERT_TRUE(limiter.Take("k").allowed);
  }
  EXPECT_EQ(limiter.KeyCount(), 0u);
}

TEST(RateLimiterTest, ForgetsFullBucketsWhenPastTheKeyBound) {
  core::ManualClock clock;
  RateLimiter limiter(1, clock, 160);
  for (int i = 0; i < 10'000; ++i) {
    limiter.Take("key" + std::to_string(i));
    clock.Advance(seconds(2));  // each bucket is full again by the next key
  }
  EXPECT_LE(limiter.KeyCount(), 160u);
}

TEST(FailureCounterTest, ExceededOnlyAboveTheLimit) {
  core::ManualClock clock;
  FailureCounter counter(clock);
  for (int i = 0; i < 20; ++i) {
    counter.Add("10.0.0.1");
  }
  EXPECT_FALSE(counter.Exceeded("10.0.0.1", 20));
  counter.Add("10.0.0.1");
  EXPECT_TRUE(counter.Exceeded("10.0.0.1", 20));
  EXPECT_FALSE(counter.Exceeded("10.0.0.2", 20));
}

TEST(FailureCounterTest, WindowResetsAfterAMinute) {
  core::ManualClock clock;
  FailureCounter counter(clock);
  counter.Add("a");
  counter.Add("a");
  clock.Advance(seconds(59));
  EXPECT_EQ(counter.Count("a"), 2);
  EXPECT_EQ(counter.RetryAfterSeconds("a"), 1);
  clock.Advance(seconds(1));
  EXPECT_EQ(counter.Count("a"), 0);
  counter.Add("a");
  EXPECT_EQ(counter.Count("a"), 1);
  EXPECT_EQ(counter.RetryAfterSeconds("a"), 60);
}

TEST(FailureCounterTest, WindowLengthIsConfigurable) {
  core::ManualClock clock;
  FailureCounter counter(clock, std::chrono::minutes(15));
  counter.Add("mail@example.com");
  clock.Advance(std::chrono::minutes(14));
  EXPECT_EQ(counter.Count("mail@example.com"), 1);
}

TEST(FailureCounterTest, ForgetsExpiredWindowsWhenPastTheKeyBound) {
  core::ManualClock clock;
  FailureCounter counter(clock, seconds(60), 160);
  for (int i = 0; i < 10'000; ++i) {
    counter.Add("addr" + std::to_string(i));
    clock.Advance(seconds(61));
  }
  EXPECT_LE(counter.KeyCount(), 160u);
}

}  // namespace
}  // namespace learnwire::http
