// One contract for every Store backend: the same tests against SQLite (a fresh file) and
// PostgreSQL (a fresh database in the cluster named by LEARNWIRE_TEST_PG_URL, which scripts/test
// starts; without it the PostgreSQL cases are skipped, saying so).
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "store/migrations.h"
#include "store/store.h"
#include "store/test_database.h"

namespace learnwire::store {
namespace {

using core::Code;
using core::Status;

// Portable DDL: both dialects read these types.
constexpr std::string_view kCreateItems =
    "CREATE TABLE items (id BIGINT PRIMARY KEY, name TEXT UNIQUE, score DOUBLE PRECISION, "
    "note TEXT)";

class StoreContractTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    auto db = TestDatabase::Create(GetParam());
    if (db.status().code() == Code::kUnavailable) {
      GTEST_SKIP() << db.status().message();
    }
    ASSERT_TRUE(db.ok()) << db.status().message();
    db_ = std::move(db).value();
  }

  std::unique_ptr<Store> Open() {
    auto s = db_->Open(/*migrated=*/false);
    EXPECT_TRUE(s.ok()) << s.status().message();
    return s.ok() ? std::move(s).value() : nullptr;
  }
  std::unique_ptr<Store> OpenWithItems() {
    auto s = Open();
    if (s) {
      EXPECT_TRUE(s->Write([](Tx& tx) { return tx.Exec(kCreateItems).status(); }).ok());
    }
    return s;
  }
  int64_t Count(Store& s, const std::string& table) {
    int64_t n = -1;
    EXPECT_TRUE(s.Read([&](Tx& tx) -> Status {
                   LW_ASSIGN_OR_RETURN(Rows rows, tx.Query("SELECT COUNT(*) AS n FROM " + table));
                   n = rows[0].Int("n");
                   return Status::Ok();
                 }).ok());
    return n;
  }
  int LatestVersion() const {
    return (GetParam() == "sqlite" ? SqliteMigrations() : PostgresMigrations()).back().version;
  }

  std::unique_ptr<TestDatabase> db_;
};

TEST_P(StoreContractTest, MigrateCreatesTheSchemaOnceAndReadyFollows) {
  auto s = Open();
  ASSERT_NE(s, nullptr);
  EXPECT_FALSE(s->Ready().ok());
  ASSERT_TRUE(s->Migrate().ok());
  ASSERT_TRUE(s->Migrate().ok());  // nothing left to do
  EXPECT_TRUE(s->Ready().ok());
  EXPECT_EQ(Count(*s, "schema_migrations"), LatestVersion());
  EXPECT_EQ(Count(*s, "deliveries"), 0);
}

TEST_P(StoreContractTest, TwoStoresMigratingAtOnceApplyEachMigrationOnce) {
  auto a = Open();
  auto b = Open();
  ASSERT_NE(a, nullptr);
  ASSERT_NE(b, nullptr);
  Status sa, sb;
  std::thread ta([&] { sa = a->Migrate(); });
  std::thread tb([&] { sb = b->Migrate(); });
  ta.join();
  tb.join();
  EXPECT_TRUE(sa.ok()) << sa.message();
  EXPECT_TRUE(sb.ok()) << sb.message();
  EXPECT_EQ(Count(*a, "schema_migrations"), LatestVersion());
}

TEST_P(StoreContractTest, RefusesASchemaNewerThanTheBinary) {
  auto s = Open();
  ASSERT_NE(s, nullptr);
  ASSERT_TRUE(s->Migrate().ok());
  ASSERT_TRUE(s->Write([&](Tx& tx) {
                 return tx
                     .Exec(
                         "INSERT INTO schema_migrations (version, name, applied_at) "
                         "VALUES ($1, 'future', 0)",
                         {static_cast<int64_t>(LatestVersion() + 1)})
                     .status();
               }).ok());
  Status st = s->Migrate();
  EXPECT_EQ(st.code(), Code::kUnavailable);
  EXPECT_NE(st.message().find("newer"), std::string::npos) << st.message();
  EXPECT_FALSE(s->Ready().ok());
}

TEST_P(StoreContractTest, WriteCommitsAndAFailedFunctionRollsBack) {
  auto s = OpenWithItems();
  ASSERT_NE(s, nullptr);
  ASSERT_TRUE(s->Write([](Tx& tx) {
                 return tx.Exec("INSERT INTO items (id, name) VALUES (1, 'kept')").status();
               }).ok());
  Status failed = s->Write([](Tx& tx) {
    EXPECT_TRUE(tx.Exec("INSERT INTO items (id, name) VALUES (2, 'doomed')").ok());
    return core::InvalidArgument("changed my mind");
  });
  EXPECT_EQ(failed.code(), Code::kInvalidArgument);
  Status threw = s->Write([](Tx& tx) -> Status {
    EXPECT_TRUE(tx.Exec("INSERT INTO items (id, name) VALUES (3, 'thrown')").ok());
    throw std::runtime_error("boom");
  });
  EXPECT_EQ(threw.code(), Code::kInternal);
  EXPECT_EQ(Count(*s, "items"), 1);
  // The connections are usable afterwards.
  EXPECT_TRUE(s->Write([](Tx& tx) {
                 return tx.Exec("INSERT INTO items (id, name) VALUES (4, 'after')").status();
               }).ok());
  EXPECT_EQ(Count(*s, "items"), 2);
}

TEST_P(StoreContractTest, ExecCountsChangedRowsAndReturningReturnsThem) {
  auto s = OpenWithItems();
  ASSERT_NE(s, nullptr);
  ASSERT_TRUE(s->Write([](Tx& tx) -> Status {
                 for (int i = 1; i <= 3; ++i) {
                   LW_RETURN_IF_ERROR(tx.Exec("INSERT INTO items (id, name, score) VALUES ($1, "
                                              "$2, $3)",
                                              {i, "n" + std::to_string(i), 1.5 * i})
                                          .status());
                 }
                 LW_ASSIGN_OR_RETURN(int64_t changed,
                                     tx.Exec("UPDATE items SET note = 'x' WHERE id >= $1", {2}));
                 EXPECT_EQ(changed, 2);
                 LW_ASSIGN_OR_RETURN(
                     Rows back, tx.Query("UPDATE items SET note = 'y' WHERE id = $1 RETURNING id, "
                                         "note",
                                         {3}));
                 EXPECT_EQ(back.size(), 1u);
                 EXPECT_EQ(back[0].Int("id"), 3);
                 EXPECT_EQ(back[0].Str("note"), "y");
                 return Status::Ok();
               }).ok());
}

TEST_P(StoreContractTest, ValuesRoundTrip) {
  auto s = OpenWithItems();
  ASSERT_NE(s, nullptr);
  const int64_t big = 9'007'199'254'740'993LL;  // beyond a double's exact integers
  const std::string text = "naïve 🚀 \"quoted\" line\nbreak";
  ASSERT_TRUE(s->Write([&](Tx& tx) {
                 return tx
                     .Exec("INSERT INTO items (id, name, score, note) VALUES ($1, $2, $3, $4)",
                           {big, text, 0.1, nullptr})
                     .status();
               }).ok());
  ASSERT_TRUE(s->Read([&](Tx& tx) -> Status {
                 LW_ASSIGN_OR_RETURN(Rows rows,
                                     tx.Query("SELECT id, name, score, note FROM items"));
                 EXPECT_EQ(rows[0].Int("id"), big);
                 EXPECT_EQ(rows[0].Str("name"), text);
                 EXPECT_DOUBLE_EQ(rows[0].Double("score"), 0.1);
                 EXPECT_TRUE(rows[0].IsNull("note"));
                 std::vector<std::string> seen;
                 LW_RETURN_IF_ERROR(tx.QueryEach("SELECT name, id FROM items WHERE id = $1", {big},
                                                 [&](const RowView& r) {
                                                   seen.emplace_back(r.Text(0));
                                                   EXPECT_EQ(r.Int(1), big);
                                                   EXPECT_FALSE(r.IsNull(0));
                                                   return Status::Ok();
                                                 }));
                 EXPECT_EQ(seen, std::vector<std::string>{text});
                 return Status::Ok();
               }).ok());
}

TEST_P(StoreContractTest, ParametersBindByNumber) {
  auto s = OpenWithItems();
  ASSERT_NE(s, nullptr);
  ASSERT_TRUE(
      s->Write([](Tx& tx) {
         return tx.Exec("INSERT INTO items (name, id) VALUES ($2, $1)", {7, "seven"}).status();
       }).ok());
  ASSERT_TRUE(s->Read([](Tx& tx) -> Status {
                 LW_ASSIGN_OR_RETURN(
                     Rows rows,
                     tx.Query("SELECT id FROM items WHERE name = $1 AND id = $2", {"seven", 7}));
                 EXPECT_EQ(rows.size(), 1u);
                 return Status::Ok();
               }).ok());
}

TEST_P(StoreContractTest, UniqueAndForeignKeyViolationsAreConflicts) {
  auto s = Open();
  ASSERT_NE(s, nullptr);
  ASSERT_TRUE(s->Migrate().ok());
  auto insert_org = [&](const std::string& id) {
    return s->Write([&](Tx& tx) {
      return tx
          .Exec(
              "INSERT INTO organizations (id, name, created_at, updated_at) VALUES ($1, 'o', "
              "0, 0)",
              {id})
          .status();
    });
  };
  ASSERT_TRUE(insert_org("org_1").ok());
  EXPECT_EQ(insert_org("org_1").code(), Code::kConflict);
  Status fk = s->Write([](Tx& tx) {
    return tx
        .Exec(
            "INSERT INTO api_keys (id, organization_id, name, secret_hash, scopes, created_at, "
            "updated_at) VALUES ('key_1', 'org_missing', 'k', 'h', '[]', 0, 0)")
        .status();
  });
  EXPECT_EQ(fk.code(), Code::kConflict) << fk.message();
}

TEST_P(StoreContractTest, AfterCommitRunsOnlyWhenTheWriteCommits) {
  auto s = OpenWithItems();
  ASSERT_NE(s, nullptr);
  int ran = 0;
  ASSERT_TRUE(s->Write([&](Tx& tx) {
                 tx.AfterCommit([&] { ++ran; });
                 return tx.Exec("INSERT INTO items (id, name) VALUES (1, 'a')").status();
               }).ok());
  EXPECT_EQ(ran, 1);
  EXPECT_FALSE(s->Write([&](Tx& tx) {
                  tx.AfterCommit([&] { ++ran; });
                  return tx.Exec("INSERT INTO items (id, name) VALUES (1, 'dup')").status();
                }).ok());
  EXPECT_EQ(ran, 1);
}

TEST_P(StoreContractTest, ConcurrentWritesAllLand) {
  auto s = OpenWithItems();
  ASSERT_NE(s, nullptr);
  std::vector<std::thread> threads;
  std::atomic<int> failures{0};
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 25; ++i) {
        Status st = s->Write([&](Tx& tx) {
          return tx
              .Exec("INSERT INTO items (id, name) VALUES ($1, $2)",
                    {t * 100 + i, "t" + std::to_string(t * 100 + i)})
              .status();
        });
        if (!st.ok()) {
          ++failures;
        }
      }
    });
  }
  for (auto& th : threads) {
    th.join();
  }
  EXPECT_EQ(failures, 0);
  EXPECT_EQ(Count(*s, "items"), 100);
}

TEST_P(StoreContractTest, AReadSeesOneSnapshot) {
  auto s = OpenWithItems();
  ASSERT_NE(s, nullptr);
  ASSERT_TRUE(s->Write([](Tx& tx) {
                 return tx.Exec("INSERT INTO items (id, name) VALUES (1, 'a')").status();
               }).ok());
  ASSERT_TRUE(s->Read([&](Tx& tx) -> Status {
                 LW_ASSIGN_OR_RETURN(Rows before, tx.Query("SELECT COUNT(*) AS n FROM items"));
                 // Another writer commits while this read is open.
                 std::thread writer([&] {
                   EXPECT_TRUE(
                       s->Write([](Tx& w) {
                          return w.Exec("INSERT INTO items (id, name) VALUES (2, 'b')").status();
                        }).ok());
                 });
                 writer.join();
                 LW_ASSIGN_OR_RETURN(Rows after, tx.Query("SELECT COUNT(*) AS n FROM items"));
                 EXPECT_EQ(before[0].Int("n"), after[0].Int("n"));
                 return Status::Ok();
               }).ok());
  EXPECT_EQ(Count(*s, "items"), 2);
}

TEST_P(StoreContractTest, ANotifyReachesListenersOfOtherStoresOnlyWhenItCommits) {
  auto writer = Open();
  auto reader = Open();
  ASSERT_NE(writer, nullptr);
  ASSERT_NE(reader, nullptr);
  std::mutex mu;
  std::condition_variable cv;
  int calls = 0;
  std::unique_ptr<Listener> listener = reader->Listen("lw_test_channel", [&] {
    std::lock_guard<std::mutex> lock(mu);
    ++calls;
    cv.notify_all();
  });
  if (GetParam() == "sqlite") {
    EXPECT_EQ(listener, nullptr);  // one process per file: AfterCommit is how writers wake it
    EXPECT_TRUE(writer->Write([](Tx& tx) { return tx.Notify("lw_test_channel"); }).ok());
    return;
  }
  ASSERT_NE(listener, nullptr);
  auto wait_for = [&](int n) {
    std::unique_lock<std::mutex> lock(mu);
    return cv.wait_for(lock, std::chrono::seconds(10), [&] { return calls >= n; });
  };
  ASSERT_TRUE(wait_for(1));  // the call made once it listens
  // A rolled-back transaction tells nobody; a committed one, notifying twice, tells once.
  EXPECT_FALSE(writer
                   ->Write([](Tx& tx) -> Status {
                     LW_RETURN_IF_ERROR(tx.Notify("lw_test_channel"));
                     return core::Internal("rolled back");
                   })
                   .ok());
  EXPECT_TRUE(writer
                  ->Write([](Tx& tx) -> Status {
                    LW_RETURN_IF_ERROR(tx.Notify("lw_test_channel"));
                    return tx.Notify("lw_test_channel");
                  })
                  .ok());
  ASSERT_TRUE(wait_for(2));
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  std::lock_guard<std::mutex> lock(mu);
  EXPECT_EQ(calls, 2);
}

INSTANTIATE_TEST_SUITE_P(Backends, StoreContractTest, ::testing::Values("sqlite", "postgres"),
                         [](const auto& info) { return info.param; });

}  // namespace
}  // namespace learnwire::store
