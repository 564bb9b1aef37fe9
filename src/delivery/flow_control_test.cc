// Adaptive concurrency and rate limits per subscription, with injected time.
#include "delivery/flow_control.h"

#include <gtest/gtest.h>

namespace learnwire::delivery {
namespace {

AttemptResult Status(int status) {
  AttemptResult r;
  r.status = status;
  return r;
}

AttemptResult Error(const std::string& error) {
  AttemptResult r;
  r.error = error;
  return r;
}

TEST(FlowControlTest, OverloadHalvesTheLimitDownToOneAndSuccessesRaiseItByOneUpToTheCap) {
  FlowControl f(8);
  EXPECT_EQ(f.Limit("wh_a"), 8);
  EXPECT_EQ(f.Allowance("wh_a", 3, std::nullopt, 0), 5);
  f.Finished("wh_a", Status(429));
  EXPECT_EQ(f.Limit("wh_a"), 4);
  f.Finished("wh_a", Status(503));
  EXPECT_EQ(f.Limit("wh_a"), 2);
  f.Finished("wh_a", Error("timeout"));
  EXPECT_EQ(f.Limit("wh_a"), 1);
  f.Finished("wh_a", Status(429));
  EXPECT_EQ(f.Limit("wh_a"), 1);  // never below one
  EXPECT_EQ(f.Allowance("wh_a", 1, std::nullopt, 0), 0);
  EXPECT_EQ(f.Allowance("wh_a", 0, std::nullopt, 0), 1);
  // Other failures say nothing about load: the limit stays.
  for (const AttemptResult& r : {Status(500), Status(404), Error("connection_refused")}) {
    f.Finished("wh_a", r);
  }
  EXPECT_EQ(f.Limit("wh_a"), 1);
  for (int i = 0; i < 20; ++i) {
    f.Finished("wh_a", Status(200));
  }
  EXPECT_EQ(f.Limit("wh_a"), 8);  // one per success, up to the cap
  // Each subscription on its own.
  f.Finished("wh_b", Status(503));
  EXPECT_EQ(f.Limit("wh_b"), 4);
  EXPECT_EQ(f.Limit("wh_a"), 8);
}

TEST(FlowControlTest, ARateAllowsThatManyStartsASecondWithBurstsOfATenth) {
  FlowControl f(1000);
  const std::optional<int> rate = 50;  // bucket of 5
  int64_t now = 1'000'000;
  EXPECT_EQ(f.Allowance("wh", 0, rate, now), 5);
  f.Started("wh", 5, rate, now);
  EXPECT_EQ(f.Allowance("wh", 5, rate, now), 0);
  EXPECT_EQ(f.NextStartAt("wh", rate, now), now + 21);  // one token every 20 ms
  // Over ten seconds, starting whatever is allowed every millisecond, 50 a second go.
  int started = 0;
  for (int64_t t = now + 1; t <= now + 10'000; ++t) {
    int n = f.Allowance("wh", 0, rate, t);
    f.Started("wh", n, rate, t);
    started += n;
  }
  EXPECT_GE(started, 499);
  EXPECT_LE(started, 501);
  // Idle time saves up no more than the bucket.
  EXPECT_EQ(f.Allowance("wh", 0, rate, now + 60'000), 5);
  // The concurrency limit still applies.
  EXPECT_EQ(f.Allowance("wh", 998, rate, now + 60'000), 2);
}

TEST(FlowControlTest, ASmallRateStillLetsOneStartAtATime) {
  FlowControl f(8);
  const std::optional<int> rate = 1;
  EXPECT_EQ(f.Allowance("wh", 0, rate, 0), 1);
  f.Started("wh", 1, rate, 0);
  EXPECT_EQ(f.Allowance("wh", 0, rate, 999), 0);
  EXPECT_EQ(f.NextStartAt("wh", rate, 500), 1001);
  EXPECT_EQ(f.Allowance("wh", 0, rate, 1000), 1);
  // Starts it could not hold back (/test, /retry) are paid for later.
  f.Started("wh", 3, rate, 1000);
  EXPECT_EQ(f.Allowance("wh", 0, rate, 3500), 0);
  EXPECT_EQ(f.Allowance("wh", 0, rate, 4000), 1);
  EXPECT_EQ(f.NextStartAt("wh", std::nullopt, 0), std::nullopt);
}

}  // namespace
}  // namespace learnwire::delivery
