// Commit order for readers on PostgreSQL (ARCHITECTURE.md): an event whose transaction commits
// later never gets a lower sequence number than one a reader may already have paged past.
// Runs against the cluster named by LEARNWIRE_TEST_PG_URL (scripts/test starts one); skipped
// without it. SQLite serializes writers, so the order holds there by construction.
#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <boost/json.hpp>
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <mutex>
#include <thread>

#include "core/clock.h"
#include "core/ids.h"
#include "events/outbox.h"
#include "store/postgres/connection.h"
#include "store/store.h"

namespace learnwire::events {
namespace {

using core::Status;

TEST(CommitOrderTest, AnEventCommittedLaterNeverGetsALowerSequence) {
  const char* admin_url = std::getenv("LEARNWIRE_TEST_PG_URL");
  if (!admin_url || !*admin_url) {
    GTEST_SKIP() << "LEARNWIRE_TEST_PG_URL is not set (scripts/test starts a cluster and sets it)";
  }
  const std::string name = "lw_commit_order_" + std::to_string(::getpid());
  auto admin = store::postgres::Connection::Open(admin_url);
  ASSERT_TRUE(admin.ok()) << admin.status().message();
  ASSERT_TRUE((*admin)->Simple("DROP DATABASE IF EXISTS " + name + " WITH (FORCE)").ok());
  ASSERT_TRUE((*admin)->Simple("CREATE DATABASE " + name).ok());
  std::string url(admin_url);
  url = url.substr(0, url.rfind('/') + 1) + name;
  auto opened = store::OpenMigratedPostgres({url, 4});
  ASSERT_TRUE(opened.ok()) << opened.status().message();
  std::unique_ptr<store::Store> db = std::move(opened).value();
  core::ManualClock clock;
  core::IdGenerator ids(clock);
  auto event = [](const char* type) {
    NewEvent e;
    e.organization_id = "org_1";
    e.type = type;
    e.data = boost::json::object{{"id", "lrn_1"}};
    return e;
  };

  // The first transaction appends its event and stays open until the second has committed,
  // or half a second has passed.
  std::mutex mu;
  std::condition_variable cv;
  bool first_appended = false;
  bool second_committed = false;
  std::thread first([&] {
    Status st = db->Write([&](store::Tx& tx) -> Status {
      LW_RETURN_IF_ERROR(Append(tx, {&ids, &clock}, event("learner.created")).status());
      std::unique_lock<std::mutex> lock(mu);
      first_appended = true;
      cv.notify_all();
      cv.wait_for(lock, std::chrono::milliseconds(500), [&] { return second_committed; });
      return Status::Ok();
    });
    EXPECT_TRUE(st.ok()) << st.message();
  });
  {
    std::unique_lock<std::mutex> lock(mu);
    cv.wait(lock, [&] { return first_appended; });
  }
  int64_t first_visible_to_second = -1;
  Status st = db->Write([&](store::Tx& tx) -> Status {
    LW_RETURN_IF_ERROR(Append(tx, {&ids, &clock}, event("learner.updated")).status());
    // Past its own event, the second sees the first's: it could not go on until that committed.
    LW_ASSIGN_OR_RETURN(
        store::Rows rows,
        tx.Query("SELECT COUNT(*) AS n FROM events WHERE type = 'learner.created'"));
    first_visible_to_second = rows[0].Int("n");
    tx.AfterCommit([&] {
      std::lock_guard<std::mutex> lock(mu);
      second_committed = true;
      cv.notify_all();
    });
    return Status::Ok();
  });
  ASSERT_TRUE(st.ok()) << st.message();
  first.join();
  EXPECT_EQ(first_visible_to_second, 1);
  ASSERT_TRUE(db->Read([&](store::Tx& tx) -> Status {
                  LW_ASSIGN_OR_RETURN(store::Rows rows,
                                      tx.Query("SELECT type FROM events ORDER BY seq"));
                  EXPECT_EQ(rows.size(), 2u);
                  EXPECT_EQ(rows[0].Str("type"), "learner.created");
                  EXPECT_EQ(rows[1].Str("type"), "learner.updated");
                  return Status::Ok();
                }).ok());
  db.reset();
  (void)(*admin)->Simple("DROP DATABASE IF EXISTS " + name + " WITH (FORCE)");
}

}  // namespace
}  // namespace learnwire::events
