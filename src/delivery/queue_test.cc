// The delivery queue against real SQLite and PostgreSQL (store::TestDatabase): fan-out, claims,
// fencing, and what results do to deliveries and subscriptions. Time is a manual clock.
#include "delivery/queue.h"

#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <cstdlib>
#include <future>
#include <map>
#include <set>
#include <thread>

#include "core/clock.h"
#include "core/ids.h"
#include "delivery/retention.h"
#include "events/outbox.h"
#include "store/test_database.h"

namespace learnwire::delivery {
namespace {

namespace json = boost::json;
using core::Status;

const std::string kOrg = "org_01JD0000000000000000000001";

class QueueTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    auto database = store::TestDatabase::Create(GetParam());
    if (database.status().code() == core::Code::kUnavailable) {
      GTEST_SKIP() << database.status().message();
    }
    ASSERT_TRUE(database.ok()) << database.status().message();
    database_ = std::move(database).value();
    auto opened = database_->Open();
    ASSERT_TRUE(opened.ok()) << opened.status().message();
    db_ = std::move(opened).value();
    Must([&](store::Tx& tx) {
      return tx
          .Exec(
              "INSERT INTO organizations (id, name, created_at, updated_at) "
              "VALUES ($1, 'Org', 0, 0)",
              {kOrg})
          .status();
    });
    rules_.guard.allowed_private_networks = {*core::ParseCidr("127.0.0.0/8")};
    rules_.resolve = [](const std::string&) {
      return core::Result<std::vector<core::IpAddress>>(std::vector<core::IpAddress>{});
    };
  }

  void Must(const store::TxFunction& fn) {
    Status st = db_->Write(fn);
    ASSERT_TRUE(st.ok()) << st.message();
  }

  int64_t Now() const { return core::ToUnixMs(clock_.Now()); }
  // Leases on the manual clock too, on both backends, so tests can make them run out.
  QueueTime T() const { return {Now(), Now()}; }
  Writer W() { return {&ids_, &clock_, kOrg}; }

  std::string MakeWebhook(const std::string& extra = "") {
    std::string id;
    Must([&](store::Tx& tx) -> Status {
      json::object body =
          json::parse(R"({"name":"w","url":"http://127.0.0.1:9/hook")" + extra + "}").as_object();
      LW_ASSIGN_OR_RETURN(CreatedWebhook created, CreateWebhook(tx, W(), rules_, body));
      id = created.webhook.id;
      return Status::Ok();
    });
    return id;
  }

  // Appends a learner.created event; fan-out schedules its deliveries.
  std::string Event(const std::string& type = "learner.created") {
    std::string id;
    Must([&](store::Tx& tx) -> Status {
      events::NewEvent e;
      e.organization_id = kOrg;
      e.type = type;
      e.data = json::object{{"id", "lrn_1"}};
      LW_ASSIGN_OR_RETURN(id, events::Append(tx, {&ids_, &clock_, nullptr}, std::move(e)));
      return Status::Ok();
    });
    return id;
  }

  std::vector<delivery::Claim> ClaimNow(const std::string& webhook_id, int limit = 10) {
    std::vector<delivery::Claim> claims;
    Must([&](store::Tx& tx) -> Status {
      LW_ASSIGN_OR_RETURN(claims, ClaimDue(tx, webhook_id, T(), limit, {"test", 25'000}));
      return Status::Ok();
    });
    return claims;
  }

  std::vector<Recorded> Record(const delivery::Claim& c, std::optional<int> status,
                               RetryPolicy policy = RetryPolicy(),
                               std::optional<std::string> retry_after = std::nullopt) {
    AttemptResult r;
    r.status = status;
    if (!status) {
      r.error = "connection_refused";
    }
    r.retry_after = retry_after;
    std::vector<Recorded> out;
    Must([&](store::Tx& tx) -> Status {
      LW_ASSIGN_OR_RETURN(out, RecordResults(
                                   tx, {&ids_, &clock_, nullptr}, {{c, policy, r, Now(), {}}},
                                   Now(), [] { return 0.5; },  // jitter factor 1.0
                                   /*isolate=*/false));        // the dispatcher's path
      return Status::Ok();
    });
    return out;
  }

  store::Rows Q(const std::string& sql, const store::Params& p = {}) {
    store::Rows rows;
    Status st = db_->Read([&](store::Tx& tx) -> Status {
      LW_ASSIGN_OR_RETURN(rows, tx.Query(sql, p));
      return Status::Ok();
    });
    EXPECT_TRUE(st.ok()) << st.message();
    return rows;
  }

  std::string StateOf(const std::string& delivery_id) {
    return Q("SELECT state FROM deliveries WHERE id = $1", {delivery_id})[0].Str("state");
  }

  std::unique_ptr<store::TestDatabase> database_;  // outlives db_
  std::unique_ptr<store::Store> db_;
  core::ManualClock clock_{1'790'000'000'000};
  core::IdGenerator ids_{clock_};
  WebhookRules rules_;
};

TEST_P(QueueTest, FanOutSchedulesOneDeliveryPerMatchingActiveSubscription) {
  std::string all = MakeWebhook();
  std::string courses = MakeWebhook(R"(,"event_types":["course.*"])");
  std::string inactive = MakeWebhook(R"(,"active":false)");
  std::string event = Event();
  store::Rows rows =
      Q("SELECT webhook_id, state, next_attempt_at FROM deliveries WHERE "
        "event_id = $1",
        {event});
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0].Str("webhook_id"), all);
  EXPECT_EQ(rows[0].Str("state"), "scheduled");
  EXPECT_EQ(rows[0].Int("next_attempt_at"), Now());
}

TEST_P(QueueTest, ClaimsUpToTheLimitOnlyDueAndUnleasedOldestFirst) {
  std::string wh = MakeWebhook();
  for (int i = 0; i < 5; ++i) {
    Event();
  }
  std::vector<delivery::Claim> first = ClaimNow(wh, 3);
  ASSERT_EQ(first.size(), 3u);
  EXPECT_LT(first[0].delivery_id, first[1].delivery_id);
  // One claim statement, one token for its batch; every claim gets a new one.
  EXPECT_EQ(first[0].lease_token, first[1].lease_token);
  EXPECT_EQ(first[0].attempt_number, 1);
  // The leased ones are not claimed again; the other two are.
  std::vector<delivery::Claim> second = ClaimNow(wh, 10);
  ASSERT_EQ(second.size(), 2u);
  EXPECT_NE(second[0].lease_token, first[0].lease_token);
  EXPECT_TRUE(ClaimNow(wh, 10).empty());
  // A lease that ran out makes the delivery claimable again, with a new token.
  clock_.Advance(std::chrono::milliseconds(25'001));
  std::vector<delivery::Claim> again = ClaimNow(wh, 10);
  ASSERT_EQ(again.size(), 5u);
  EXPECT_NE(again[0].lease_token, first[0].lease_token);
}

TEST_P(QueueTest, AResultUnderALostLeaseWritesNothing) {
  std::string wh = MakeWebhook();
  Event();
  delivery::Claim stale = ClaimNow(wh)[0];
  clock_.Advance(std::chrono::milliseconds(25'001));
  delivery::Claim fresh = ClaimNow(wh)[0];
  std::vector<Recorded> r = Record(stale, 200);
  EXPECT_FALSE(r[0].written);
  EXPECT_EQ(StateOf(stale.delivery_id), "scheduled");
  EXPECT_EQ(Q("SELECT COUNT(*) AS n FROM attempts")[0].Int("n"), 0);
  EXPECT_TRUE(Record(fresh, 200)[0].written);
  EXPECT_EQ(StateOf(fresh.delivery_id), "succeeded");
}

TEST_P(QueueTest, AResultWriteUsesUpItsLeaseToken) {
  std::string wh = MakeWebhook();
  Event();
  delivery::Claim c = ClaimNow(wh)[0];
  EXPECT_TRUE(Record(c, 500)[0].written);
  // The same claim cannot write a second result (no second attempt row, no PRIMARY KEY clash).
  std::vector<Recorded> again = Record(c, 200);
  EXPECT_FALSE(again[0].written);
  EXPECT_EQ(StateOf(c.delivery_id), "scheduled");
  EXPECT_EQ(Q("SELECT COUNT(*) AS n FROM attempts")[0].Int("n"), 1);
}

TEST_P(QueueTest, OneResultThatCannotBeWrittenDoesNotBlockTheBatch) {
  std::string wh = MakeWebhook();
  Event();
  Event();
  std::vector<delivery::Claim> claims = ClaimNow(wh, 2);
  // An attempt row already holds the number the first result would use.
  Must([&](store::Tx& tx) {
    return tx
        .Exec(
            "INSERT INTO attempts (delivery_id, number, started_at, duration_ms, "
            "response_headers, request_headers) VALUES ($1, 1, 0, 0, '{}', '{}')",
            {claims[0].delivery_id})
        .status();
  });
  AttemptResult ok;
  ok.status = 200;
  std::vector<Recorded> out;
  Must([&](store::Tx& tx) -> Status {
    LW_ASSIGN_OR_RETURN(out, RecordResults(tx, {&ids_, &clock_, nullptr},
                                           {{claims[0], RetryPolicy(), ok, Now(), {}},
                                            {claims[1], RetryPolicy(), ok, Now(), {}}},
                                           Now(), [] { return 0.5; }));
    return Status::Ok();
  });
  ASSERT_EQ(out.size(), 2u);
  EXPECT_FALSE(out[0].written);
  EXPECT_FALSE(out[0].why.empty());
  EXPECT_TRUE(out[1].written);
  EXPECT_EQ(StateOf(claims[0].delivery_id), "scheduled");  // its lease runs out; tried again
  EXPECT_EQ(StateOf(claims[1].delivery_id), "succeeded");
}

// The dispatcher writes a batch with a few multi-row statements and falls back to one result per
// savepoint when that fails: both must leave the same rows.
TEST_P(QueueTest, ABatchWritesWhatOneByOneWrites) {
  auto result = [](std::optional<int> status, std::optional<std::string> retry_after = {}) {
    AttemptResult r;
    r.status = status;
    if (!status) {
      r.error = "connection_refused";
    }
    r.retry_after = retry_after;
    r.duration_ms = 7;
    return r;
  };
  const std::vector<AttemptResult> results = {result(200),        result(500), result(std::nullopt),
                                              result(429, "120"), result(204), result(503)};
  std::map<bool, std::vector<std::string>> rows;
  for (bool isolate : {false, true}) {
    std::string wh = MakeWebhook();
    for (std::size_t i = 0; i < results.size() + 1; ++i) {
      Event();
    }
    std::vector<delivery::Claim> claims = ClaimNow(wh, static_cast<int>(results.size() + 1));
    ASSERT_EQ(claims.size(), results.size() + 1);
    // The last claim's lease is lost before its result arrives.
    delivery::Claim stale = claims.back();
    Must([&](store::Tx& tx) {
      return tx
          .Exec("UPDATE deliveries SET lease_token = 'other' WHERE id = $1", {stale.delivery_id})
          .status();
    });
    std::vector<Finished> batch;
    for (std::size_t i = 0; i < results.size(); ++i) {
      batch.push_back({claims[i], RetryPolicy(), results[i], Now() - 3, {}});
    }
    batch.push_back({stale, RetryPolicy(), result(200), Now() - 3, {}});
    std::vector<Recorded> out;
    Must([&](store::Tx& tx) -> Status {
      LW_ASSIGN_OR_RETURN(
          out, RecordResults(
                   tx, {&ids_, &clock_, nullptr}, batch, Now(), [] { return 0.5; }, isolate));
      return Status::Ok();
    });
    ASSERT_EQ(out.size(), batch.size());
    for (std::size_t i = 0; i < out.size(); ++i) {
      EXPECT_EQ(out[i].delivery_id, batch[i].claim.delivery_id);
      EXPECT_EQ(out[i].written, i + 1 < out.size()) << i;
      rows[isolate].push_back(out[i].state + "/" + (out[i].why.empty() ? "" : "why"));
    }
    for (const delivery::Claim& c : claims) {
      store::Rows d =
          Q("SELECT state, attempt_count, next_attempt_at, last_status, last_error, lease_token, "
            "finished_at, first_attempt_at, updated_at FROM deliveries WHERE id = $1",
            {c.delivery_id});
      std::string row;
      for (const char* col :
           {"state", "attempt_count", "next_attempt_at", "last_status", "last_error", "lease_token",
            "finished_at", "first_attempt_at", "updated_at"}) {
        row += d[0].IsNull(col) ? std::string("null") : d[0].Str(col);
        row += "|";
      }
      rows[isolate].push_back(row);
    }
    store::Rows a =
        Q("SELECT COUNT(*) AS n, SUM(duration_ms) AS d FROM attempts WHERE webhook_id = $1", {wh});
    rows[isolate].push_back(a[0].Str("n") + "/" + a[0].Str("d"));
    store::Rows w = Q("SELECT last_success_at, last_attempt_at FROM webhooks WHERE id = $1", {wh});
    rows[isolate].push_back(w[0].Str("last_success_at") + "/" + w[0].Str("last_attempt_at"));
  }
  EXPECT_EQ(rows[false], rows[true]);
  // And what they wrote is right: success, retries at their times, the fenced one untouched.
  EXPECT_EQ(rows[false][0], "succeeded/");
  EXPECT_EQ(rows[false][1], "scheduled/");
  EXPECT_EQ(rows[false][6], "/why");
  EXPECT_EQ(rows[false][7], "succeeded|1|null|200|null|null|" + std::to_string(Now()) + "|" +
                                std::to_string(Now() - 3) + "|" + std::to_string(Now()) + "|");
  EXPECT_EQ(rows[false][8], "scheduled|1|" + std::to_string(Now() + 2000) + "|500|null|null|null|" +
                                std::to_string(Now() - 3) + "|" + std::to_string(Now()) + "|");
  auto starts = [&](std::size_t i, const std::string& prefix) {
    EXPECT_EQ(rows[false][i].substr(0, prefix.size()), prefix) << i;
  };
  starts(9, "scheduled|1|" + std::to_string(Now() + 2000) + "|null|connection_refused|");
  starts(10, "scheduled|1|" + std::to_string(Now() + 120'000) + "|429|");
  starts(12, "scheduled|1|" + std::to_string(Now() + 2000) + "|503|");
  starts(13, "scheduled|0|");  // the fenced-out one: as it was
  EXPECT_EQ(rows[false][14], "6/42");
}

TEST_P(QueueTest, SuccessRecordsTheAttemptAndTheSubscriptionsLastSuccess) {
  std::string wh = MakeWebhook();
  Event();
  delivery::Claim c = ClaimNow(wh)[0];
  Record(c, 204);
  store::Rows d =
      Q("SELECT state, attempt_count, last_status, lease_token, next_attempt_at, "
        "finished_at FROM deliveries");
  EXPECT_EQ(d[0].Str("state"), "succeeded");
  EXPECT_EQ(d[0].Int("attempt_count"), 1);
  EXPECT_EQ(d[0].Int("last_status"), 204);
  EXPECT_TRUE(d[0].IsNull("next_attempt_at"));
  EXPECT_EQ(d[0].Int("finished_at"), Now());
  store::Rows a = Q("SELECT number, status FROM attempts WHERE delivery_id = $1", {c.delivery_id});
  ASSERT_EQ(a.size(), 1u);
  EXPECT_EQ(a[0].Int("number"), 1);
  EXPECT_EQ(Q("SELECT last_success_at FROM webhooks")[0].Int("last_success_at"), Now());
}

// The stats read attempts by subscription and time (migration 7): each attempt row carries its
// subscription and test flag, and the subscription keeps the start of its newest non-test one.
TEST_P(QueueTest, AttemptsCarryTheirSubscriptionAndTheNewestNonTestStartIsKept) {
  std::string wh = MakeWebhook();
  Event();
  delivery::Claim c = ClaimNow(wh)[0];
  const int64_t first = Now();
  Record(c, 500);
  EXPECT_EQ(Q("SELECT last_attempt_at FROM webhooks")[0].Int("last_attempt_at"), first);
  clock_.Advance(std::chrono::minutes(1));
  const std::string test_event = Event("webhook.test");
  std::string test_id;
  Must([&](store::Tx& tx) -> Status {
    events::NewDelivery d{kOrg, wh, test_event, "webhook.test", Now(), std::nullopt, true};
    LW_ASSIGN_OR_RETURN(test_id, events::ScheduleDelivery(tx, ids_, d));
    return Status::Ok();
  });
  delivery::Claim t;
  Must([&](store::Tx& tx) -> Status {
    LW_ASSIGN_OR_RETURN(t, ClaimOne(tx, kOrg, test_id, AttemptKind::kTest, T(), {"test", 25'000}));
    return Status::Ok();
  });
  Record(t, 200);
  store::Rows a = Q("SELECT delivery_id, webhook_id, test FROM attempts ORDER BY started_at");
  ASSERT_EQ(a.size(), 2u);
  EXPECT_EQ(a[0].Str("webhook_id"), wh);
  EXPECT_EQ(a[0].Int("test"), 0);
  EXPECT_EQ(a[1].Str("delivery_id"), test_id);
  EXPECT_EQ(a[1].Str("webhook_id"), wh);
  EXPECT_EQ(a[1].Int("test"), 1);
  // The /test attempt is newer but left out.
  EXPECT_EQ(Q("SELECT last_attempt_at FROM webhooks")[0].Int("last_attempt_at"), first);
}

TEST_P(QueueTest, AFailedAttemptIsRetriedOnTheSchedule) {
  std::string wh = MakeWebhook();
  Event();
  delivery::Claim c = ClaimNow(wh)[0];
  Record(c, 500);
  store::Rows d =
      Q("SELECT state, attempt_count, next_attempt_at, last_status, lease_until "
        "FROM deliveries");
  EXPECT_EQ(d[0].Str("state"), "scheduled");
  EXPECT_EQ(d[0].Int("attempt_count"), 1);
  EXPECT_EQ(d[0].Int("next_attempt_at"), Now() + 2000);
  EXPECT_TRUE(d[0].IsNull("lease_until"));
  EXPECT_TRUE(ClaimNow(wh).empty());  // not due yet
  clock_.Advance(std::chrono::milliseconds(2000));
  std::vector<delivery::Claim> next = ClaimNow(wh);
  ASSERT_EQ(next.size(), 1u);
  EXPECT_EQ(next[0].attempt_number, 2);
}

TEST_P(QueueTest, RetryAfterOn429IsHonoured) {
  std::string wh = MakeWebhook();
  Event();
  Record(ClaimNow(wh)[0], 429, RetryPolicy(), "120");
  EXPECT_EQ(Q("SELECT next_attempt_at FROM deliveries")[0].Int("next_attempt_at"), Now() + 120'000);
}

TEST_P(QueueTest, ExhaustionWithoutASuccessDisablesAndTellsTheOtherSubscriptions) {
  std::string failing = MakeWebhook(R"(,"retry_policy":{"schedule":"custom","delays_s":[]})");
  std::string listener = MakeWebhook(R"(,"event_types":["webhook.disabled"])");
  Event();
  Event();
  std::vector<delivery::Claim> claims = ClaimNow(failing, 1);
  RetryPolicy once;
  once.schedule = Schedule::kCustom;
  Record(claims[0], 500, once);
  EXPECT_EQ(StateOf(claims[0].delivery_id), "failed");
  store::Rows w = Q("SELECT active, deactivate_reason FROM webhooks WHERE id = $1", {failing});
  EXPECT_EQ(w[0].Int("active"), 0);
  EXPECT_EQ(w[0].Str("deactivate_reason"), "retries_exhausted");
  // Its other scheduled delivery is canceled.
  EXPECT_EQ(Q("SELECT COUNT(*) AS n FROM deliveries WHERE webhook_id = $1 AND state = "
              "'canceled'",
              {failing})[0]
                .Int("n"),
            1);
  // webhook.disabled is an event, fanned out to the subscription that listens for it.
  store::Rows e = Q("SELECT payload FROM events WHERE type = 'webhook.disabled'");
  ASSERT_EQ(e.size(), 1u);
  json::object data = json::parse(e[0].Str("payload")).at("data").as_object();
  EXPECT_EQ(data.at("id").as_string(), failing);
  EXPECT_EQ(data.at("deactivate_reason"), "retries_exhausted");
  EXPECT_EQ(data.at("url"), "http://127.0.0.1/hook");
  EXPECT_EQ(Q("SELECT COUNT(*) AS n FROM deliveries WHERE webhook_id = $1 AND event_type = "
              "'webhook.disabled'",
              {listener})[0]
                .Int("n"),
            1);
}

TEST_P(QueueTest, ExhaustionAfterASuccessSinceTheDeliveryWasCreatedKeepsItActive) {
  std::string wh = MakeWebhook(R"(,"retry_policy":{"schedule":"custom","delays_s":[]})");
  Event();
  Event();
  std::vector<delivery::Claim> claims = ClaimNow(wh, 2);
  RetryPolicy once;
  once.schedule = Schedule::kCustom;
  Record(claims[1], 200, once);
  Record(claims[0], 500, once);
  EXPECT_EQ(StateOf(claims[0].delivery_id), "failed");
  EXPECT_EQ(Q("SELECT active FROM webhooks")[0].Int("active"), 1);
}

TEST_P(QueueTest, GoneDisablesAtOnce) {
  std::string wh = MakeWebhook();
  Event();
  delivery::Claim c = ClaimNow(wh)[0];
  Record(c, 410);
  EXPECT_EQ(StateOf(c.delivery_id), "failed");
  EXPECT_EQ(Q("SELECT deactivate_reason FROM webhooks")[0].Str("deactivate_reason"), "http_410");
}

TEST_P(QueueTest, AnAttemptInFlightWhenCanceledIsRecordedAndOnlyA2xxChangesTheState) {
  std::string wh = MakeWebhook();
  Event();
  Event();
  std::vector<delivery::Claim> claims = ClaimNow(wh, 2);
  Must([&](store::Tx& tx) { return CancelScheduled(tx, wh, Now()).status(); });
  Record(claims[0], 500);
  Record(claims[1], 200);
  EXPECT_EQ(StateOf(claims[0].delivery_id), "canceled");
  EXPECT_EQ(StateOf(claims[1].delivery_id), "succeeded");
  EXPECT_EQ(Q("SELECT COUNT(*) AS n FROM attempts")[0].Int("n"), 2);
}

TEST_P(QueueTest, ClearingLeasesAtStartMakesInFlightWorkDueAgain) {
  std::string wh = MakeWebhook();
  Event();
  ASSERT_EQ(ClaimNow(wh).size(), 1u);
  EXPECT_TRUE(ClaimNow(wh).empty());
  Must([&](store::Tx& tx) { return ClearLeases(tx); });
  EXPECT_EQ(ClaimNow(wh).size(), 1u);
}

TEST_P(QueueTest, NextDueIsTheEarliestUnleasedDueTimeOrLeaseExpiry) {
  std::string wh = MakeWebhook();
  Event();
  auto next = [&] {
    std::optional<int64_t> t;
    Must([&](store::Tx& tx) -> Status {
      LW_ASSIGN_OR_RETURN(t, NextDueAt(tx, T()));
      return Status::Ok();
    });
    return t;
  };
  EXPECT_EQ(next(), Now());
  ClaimNow(wh);
  EXPECT_EQ(next(), Now() + 25'000);
}

TEST_P(QueueTest, RetentionPurgesFinishedWorkButNeverScheduledDeliveriesOrTheirEvents) {
  std::string wh = MakeWebhook(R"(,"event_types":["learner.created"])");
  std::string finished_event = Event();
  std::string scheduled_event = Event();
  std::string unrouted_event = Event("learner.deleted");  // no subscription hears it
  Record(ClaimNow(wh, 1)[0], 200);
  clock_.Advance(std::chrono::hours(24 * 31));
  std::string recent_event = Event("learner.deleted");
  Purged purged;
  Must([&](store::Tx& tx) -> Status {
    LW_ASSIGN_OR_RETURN(purged, PurgeBatch(tx, Now() - 30LL * 86'400'000, 100));
    return Status::Ok();
  });
  EXPECT_EQ(purged.deliveries, 1);
  EXPECT_EQ(purged.attempts, 1);
  EXPECT_EQ(purged.events, 2);  // the finished delivery's event and the unrouted one
  EXPECT_EQ(Q("SELECT state FROM deliveries")[0].Str("state"), "scheduled");
  store::Rows left = Q("SELECT id FROM events ORDER BY seq");
  ASSERT_EQ(left.size(), 2u);
  EXPECT_EQ(left[0].Str("id"), scheduled_event);
  EXPECT_EQ(left[1].Str("id"), recent_event);
  (void)finished_event;
  (void)unrouted_event;
}

TEST_P(QueueTest, LeasesFollowTheLeaseClockAndDueTimesTheProgramsClock) {
  std::string wh = MakeWebhook();
  Event();
  // The lease clock is an hour behind the program's: the due delivery is claimed, and its lease
  // ends an hour before the program's clock would say.
  const QueueTime t{Now(), Now() - 3'600'000};
  std::vector<delivery::Claim> claims;
  Must([&](store::Tx& tx) -> Status {
    LW_ASSIGN_OR_RETURN(claims, ClaimDue(tx, wh, t, 10, {"test", 25'000}));
    return Status::Ok();
  });
  ASSERT_EQ(claims.size(), 1u);
  EXPECT_EQ(Q("SELECT lease_until FROM deliveries")[0].Int("lease_until"), t.lease_now + 25'000);
  // NextDueAt answers on the program's clock.
  std::optional<int64_t> next;
  Must([&](store::Tx& tx) -> Status {
    LW_ASSIGN_OR_RETURN(next, NextDueAt(tx, t));
    return Status::Ok();
  });
  EXPECT_EQ(next, Now() + 25'000);
}

TEST_P(QueueTest, TheLeaseClockIsTheDatabasesOnPostgresAndTheProgramsOnSqlite) {
  QueueTime t;
  Must([&](store::Tx& tx) -> Status {
    LW_ASSIGN_OR_RETURN(t, ReadQueueTime(tx, 42));
    return Status::Ok();
  });
  EXPECT_EQ(t.now, 42);
  if (GetParam() == "sqlite") {
    EXPECT_EQ(t.lease_now, 42);
  } else {
    // The server runs on this machine: its clock is the system clock, give or take.
    const int64_t system = core::ToUnixMs(core::SystemClock().Now());
    EXPECT_LT(std::abs(t.lease_now - system), 5'000);
  }
}

TEST_P(QueueTest, AbandonedTestDeliveriesFailWithTimeout) {
  std::string wh = MakeWebhook();
  const std::string event_id = Event("webhook.test");
  auto test_delivery = [&] {
    std::string id;
    Must([&](store::Tx& tx) -> Status {
      events::NewDelivery d{kOrg, wh, event_id, "webhook.test", Now(), std::nullopt, true};
      LW_ASSIGN_OR_RETURN(id, events::ScheduleDelivery(tx, ids_, d));
      return Status::Ok();
    });
    return id;
  };
  const std::string leased = test_delivery();
  const std::string unclaimed = test_delivery();
  Must([&](store::Tx& tx) -> Status {
    return ClaimOne(tx, kOrg, leased, AttemptKind::kTest, T(), {"test", 25'000}).status();
  });
  clock_.Advance(std::chrono::minutes(5));
  const std::string fresh = test_delivery();
  clock_.Advance(std::chrono::minutes(6));
  int64_t failed = 0;
  Must([&](store::Tx& tx) -> Status {
    LW_ASSIGN_OR_RETURN(failed, FailAbandonedTests(tx, T()));
    return Status::Ok();
  });
  EXPECT_EQ(failed, 2);  // the lease that ran out, and the one never claimed for 11 minutes
  EXPECT_EQ(StateOf(leased), "failed");
  EXPECT_EQ(StateOf(unclaimed), "failed");
  EXPECT_EQ(StateOf(fresh), "scheduled");  // 6 minutes old, unleased: its /test may still come
  EXPECT_EQ(Q("SELECT last_error FROM deliveries WHERE id = $1", {leased})[0].Str("last_error"),
            "timeout");
}

TEST_P(QueueTest, ConcurrentClaimsOnPostgresSkipEachOthersRowsAndNeverWait) {
  if (GetParam() != "postgres") {
    GTEST_SKIP() << "SQLite serializes writers: one claim at a time by construction";
  }
  std::string wh = MakeWebhook();
  for (int i = 0; i < 10; ++i) {
    Event();
  }
  // The first claimer holds its transaction open (its rows locked) while the second claims.
  std::promise<void> first_claimed, second_done;
  std::vector<delivery::Claim> a, b;
  std::thread first([&] {
    Must([&](store::Tx& tx) -> Status {
      LW_ASSIGN_OR_RETURN(a, ClaimDue(tx, wh, T(), 4, {"a", 25'000}));
      first_claimed.set_value();
      second_done.get_future().wait();
      return Status::Ok();
    });
  });
  first_claimed.get_future().wait();
  Must([&](store::Tx& tx) -> Status {
    LW_ASSIGN_OR_RETURN(b, ClaimDue(tx, wh, T(), 10, {"b", 25'000}));
    return Status::Ok();
  });
  second_done.set_value();
  first.join();
  ASSERT_EQ(a.size(), 4u);
  ASSERT_EQ(b.size(), 6u);
  std::set<std::string> ids;
  for (const auto* claims : {&a, &b}) {
    for (const delivery::Claim& c : *claims) {
      ids.insert(c.delivery_id);
    }
  }
  EXPECT_EQ(ids.size(), 10u);
  EXPECT_EQ(Q("SELECT COUNT(*) AS n FROM deliveries WHERE leased_by = 'a'")[0].Int("n"), 4);
}

TEST_P(QueueTest, AnOrderedSubscriptionReleasesOnlyItsHeadAndAFailingHeadHoldsBackTheRest) {
  std::string wh = MakeWebhook(R"(,"ordered":true)");
  std::vector<std::string> events;
  for (int i = 0; i < 3; ++i) {
    events.push_back(Event());
  }
  auto head = [&] {
    HeadClaim h;
    Must([&](store::Tx& tx) -> Status {
      LW_ASSIGN_OR_RETURN(h, ClaimHead(tx, wh, T(), {"test", 25'000}));
      return Status::Ok();
    });
    return h;
  };
  HeadClaim first = head();
  ASSERT_TRUE(first.claim);
  EXPECT_EQ(first.claim->event_id, events[0]);  // commit order
  EXPECT_FALSE(head().claim);                   // the head is in flight: nothing else
  // It fails and is retried in 2 s: the others, due now, wait behind it.
  Record(*first.claim, 500);
  HeadClaim blocked = head();
  EXPECT_FALSE(blocked.claim);
  EXPECT_EQ(blocked.head_due_at, Now() + 2000);
  clock_.Advance(std::chrono::milliseconds(2000));
  HeadClaim again = head();
  ASSERT_TRUE(again.claim);
  EXPECT_EQ(again.claim->event_id, events[0]);
  EXPECT_EQ(again.claim->attempt_number, 2);
  // Once it succeeds, the next one in order.
  Record(*again.claim, 200);
  HeadClaim second = head();
  ASSERT_TRUE(second.claim);
  EXPECT_EQ(second.claim->event_id, events[1]);
}

INSTANTIATE_TEST_SUITE_P(Backends, QueueTest, ::testing::Values("sqlite", "postgres"),
                         [](const auto& info) { return info.param; });

}  // namespace
}  // namespace learnwire::delivery
