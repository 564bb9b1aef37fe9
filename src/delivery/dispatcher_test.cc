// The dispatcher's lifecycle on a real store: its loop heartbeat (what /readyz reads).
#include "delivery/dispatcher.h"

#include <gtest/gtest.h>

#include <chrono>
#include <thread>

#include "core/clock.h"
#include "core/ids.h"
#include "store/test_database.h"

namespace learnwire::delivery {
namespace {

TEST(DispatcherTest, TheLoopHeartbeatHoldsWhileRunningAndEndsWithStop) {
  auto database = store::TestDatabase::Create("sqlite");
  ASSERT_TRUE(database.ok()) << database.status().message();
  auto db = (*database)->Open();
  ASSERT_TRUE(db.ok()) << db.status().message();
  core::ManualClock clock;
  core::IdGenerator ids(clock);
  DispatcherOptions options;
  options.idle_poll = std::chrono::milliseconds(50);
  Dispatcher dispatcher(**db, clock, ids, options, [] { return 0.5; });
  EXPECT_FALSE(dispatcher.LoopedWithin(std::chrono::seconds(10)));  // not started
  ASSERT_TRUE(dispatcher.Start().ok());
  // The loop goes round at least every idle_poll, whatever the (frozen) manual clock says: a
  // second after the start it has gone round within the last half second (waiting up to 5 s
  // more on a loaded machine).
  std::this_thread::sleep_for(std::chrono::seconds(1));
  bool looping = false;
  for (int i = 0; i < 100 && !looping; ++i) {
    looping = dispatcher.LoopedWithin(std::chrono::milliseconds(500));
    if (!looping) {
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
  }
  EXPECT_TRUE(looping);
  dispatcher.Stop(std::chrono::milliseconds(0));
  EXPECT_FALSE(dispatcher.LoopedWithin(std::chrono::seconds(10)));
}

}  // namespace
}  // namespace learnwire::delivery
