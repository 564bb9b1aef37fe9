#include "api/key_cache.h"

#include <gtest/gtest.h>

namespace learnwire::api {
namespace {

using std::chrono::milliseconds;

domain::KeyRecord Record(const std::string& id) {
  domain::KeyRecord r;
  r.key.id = id;
  r.key.organization_id = "org_1";
  r.secret_hash = "h";
  return r;
}

TEST(KeyCacheTest, KeepsARecordForOneSecondFromItsRead) {
  core::ManualClock clock;
  KeyCache cache(clock);
  int64_t read_at = core::ToUnixMs(clock.Now());
  clock.Advance(milliseconds(300));  // a slow read: the entry ages from its start
  cache.Put(Record("key_a"), read_at);
  clock.Advance(milliseconds(699));
  EXPECT_TRUE(cache.Get("key_a").has_value());
  clock.Advance(milliseconds(1));
  EXPECT_FALSE(cache.Get("key_a").has_value());
}

TEST(KeyCacheTest, EvictRemovesAtOnce) {
  core::ManualClock clock;
  KeyCache cache(clock);
  cache.Put(Record("key_a"), core::ToUnixMs(clock.Now()));
  cache.Evict("key_a");
  EXPECT_FALSE(cache.Get("key_a").has_value());
}

TEST(KeyCacheTest, ARecordReadBeforeARevokeIsNotCachedAfterIt) {
  core::ManualClock clock;
  KeyCache cache(clock);
  int64_t read_at = core::ToUnixMs(clock.Now());  // a request starts reading the key…
  clock.Advance(milliseconds(5));
  cache.Evict("key_a");                 // …the key is revoked and evicted…
  cache.Put(Record("key_a"), read_at);  // …and the stale record arrives
  EXPECT_FALSE(cache.Get("key_a").has_value());
  // A read that starts after the revoke caches normally.
  clock.Advance(milliseconds(1));
  cache.Put(Record("key_a"), core::ToUnixMs(clock.Now()));
  EXPECT_TRUE(cache.Get("key_a").has_value());
}

TEST(KeyCacheTest, AClockThatStepsBackDropsTheEntry) {
  core::ManualClock clock(2'000'000'000'000);
  KeyCache cache(clock);
  cache.Put(Record("key_a"), core::ToUnixMs(clock.Now()));
  clock.Set(1'999'999'999'000);
  EXPECT_FALSE(cache.Get("key_a").has_value());
}

TEST(KeyCacheTest, StaysWithinItsBound) {
  core::ManualClock clock;
  KeyCache cache(clock, std::chrono::seconds(1), 3);
  for (const char* id : {"key_a", "key_b", "key_c", "key_d"}) {
    cache.Put(Record(id), core::ToUnixMs(clock.Now()));
  }
  int held = 0;
  for (const char* id : {"key_a", "key_b", "key_c", "key_d"}) {
    held += cache.Get(id).has_value() ? 1 : 0;
  }
  EXPECT_LE(held, 3);
  EXPECT_TRUE(cache.Get("key_d").has_value());
}

}  // namespace
}  // namespace learnwire::api
