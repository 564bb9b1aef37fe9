#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include "store/migrations.h"
#include "store/store.h"

namespace learnwire::store {
namespace {

using core::Code;
using core::Status;

constexpr std::string_view kCreateItems =
    "CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT UNIQUE, score REAL, note TEXT)";

int LatestVersion() { return SqliteMigrations().back().version; }

std::unique_ptr<Store> MustOpen(const std::string& path, int readers = 4) {
  SqliteOptions options;
  options.path = path;
  options.readers = readers;
  auto store = OpenSqlite(options);
  EXPECT_TRUE(store.ok()) << store.status().message();
  return store.ok() ? std::move(store).value() : nullptr;
}

Status CreateItems(Store& store) {
  return store.Write([](Tx& tx) { return tx.Exec(kCreateItems).status(); });
}

Status InsertItem(Store& store, const std::string& name) {
  return store.Write(
      [&](Tx& tx) { return tx.Exec("INSERT INTO items (name) VALUES ($1)", {name}).status(); });
}

int64_t Count(Store& store, const std::string& sql) {
  int64_t count = -1;
  Status status = store.Read([&](Tx& tx) {
    auto rows = tx.Query(sql);
    if (!rows.ok()) {
      return rows.status();
    }
    count = (*rows)[0].Int("n");
    return Status::Ok();
  });
  EXPECT_TRUE(status.ok()) << status.message();
  return count;
}

int64_t CountItems(Store& store) { return Count(store, "SELECT COUNT(*) AS n FROM items"); }

// Each test gets a fresh folder under the system temp folder, removed afterwards.
class SqliteStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    static std::atomic<int> counter{0};
    dir_ = std::filesystem::temp_directory_path() /
           ("lw_store_test_" + std::to_string(::getpid()) + "_" + std::to_string(counter++) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
  }
  void TearDown() override {
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }
  std::string DbPath() const { return (dir_ / "learnwire.db").string(); }

  std::filesystem::path dir_;
};

TEST_F(SqliteStoreTest, MigrateCreatesTablesAndIsIdempotent) {
  auto store = MustOpen(":memory:");
  ASSERT_NE(store, nullptr);
  ASSERT_TRUE(store->Migrate().ok());
  EXPECT_TRUE(store->Ready().ok());
  EXPECT_EQ(Count(*store,
                  "SELECT COUNT(*) AS n FROM sqlite_master WHERE type = 'table' AND name IN "
                  "('organizations', 'users', 'api_keys', 'learners', 'events')"),
            5);

  Status again = store->Migrate();
  EXPECT_TRUE(again.ok()) << again.message();
  EXPECT_EQ(Count(*store, "SELECT COUNT(*) AS n FROM schema_migrations"),
            static_cast<int64_t>(SqliteMigrations().size()));
  EXPECT_EQ(Count(*store, "SELECT MAX(version) AS n FROM schema_migrations"), LatestVersion());
}

TEST_F(SqliteStoreTest, ReadyIsUnavailableBeforeMigrate) {
  auto store = MustOpen(DbPath());
  ASSERT_NE(store, nullptr);
  EXPECT_EQ(store->Ready().code(), Code::kUnavailable);
  ASSERT_TRUE(store->Migrate().ok());
  EXPECT_TRUE(store->Ready().ok());
}

TEST_F(SqliteStoreTest, SecondStoreOnSameFileSeesVersionAndMigrateIsNoOp) {
  auto first = MustOpen(DbPath());
  ASSERT_NE(first, nullptr);
  ASSERT_TRUE(first->Migrate().ok());
  const int64_t applied_sum = Count(*first, "SELECT SUM(applied_at) AS n FROM schema_migrations");

  auto second = MustOpen(DbPath());
  ASSERT_NE(second, nullptr);
  EXPECT_TRUE(second->Ready().ok());
  ASSERT_TRUE(second->Migrate().ok());
  EXPECT_EQ(Count(*second, "SELECT COUNT(*) AS n FROM schema_migrations"),
            static_cast<int64_t>(SqliteMigrations().size()));
  EXPECT_EQ(Count(*second, "SELECT SUM(applied_at) AS n FROM schema_migrations"), applied_sum);
}

TEST_F(SqliteStoreTest, TwoStoresMigratingAtOnceApplyEachMigrationOnce) {
  auto first = MustOpen(DbPath());
  ASSERT_NE(first, nullptr);
  auto second = MustOpen(DbPath());
  ASSERT_NE(second, nullptr);
  Status first_status;
  Status second_status;
  std::thread a([&] { first_status = first->Migrate(); });
  std::thread b([&] { second_status = second->Migrate(); });
  a.join();
  b.join();
  EXPECT_TRUE(first_status.ok()) << first_status.message();
  EXPECT_TRUE(second_status.ok()) << second_status.message();
  EXPECT_EQ(Count(*first, "SELECT COUNT(*) AS n FROM schema_migrations"),
            static_cast<int64_t>(SqliteMigrations().size()));
}

TEST_F(SqliteStoreTest, RefusesSchemaNewerThanBinary) {
  auto store = MustOpen(DbPath());
  ASSERT_NE(store, nullptr);
  ASSERT_TRUE(store->Migrate().ok());
  ASSERT_TRUE(store
                  ->Write([](Tx& tx) {
                    return tx
                        .Exec(
                            "INSERT INTO schema_migrations (version, name, applied_at) "
                            "VALUES (999, 'future', 0)")
                        .status();
                  })
                  .ok());

  Status refused = store->Migrate();
  EXPECT_EQ(refused.code(), Code::kUnavailable);
  EXPECT_EQ(refused.message(), "database schema version 999 is newer than this binary (" +
                                   std::to_string(LatestVersion()) + ")");
  EXPECT_EQ(store->Ready().code(), Code::kUnavailable);

  auto other = MustOpen(DbPath());
  ASSERT_NE(other, nullptr);
  EXPECT_EQ(other->Migrate().code(), Code::kUnavailable);
}

TEST_F(SqliteStoreTest, WriteCommits) {
  auto store = MustOpen(":memory:");
  ASSERT_NE(store, nullptr);
  ASSERT_TRUE(CreateItems(*store).ok());
  ASSERT_TRUE(InsertItem(*store, "a").ok());
  ASSERT_TRUE(InsertItem(*store, "b").ok());
  EXPECT_EQ(CountItems(*store), 2);
}

TEST_F(SqliteStoreTest, ExecReturnsChangedRows) {
  auto store = MustOpen(":memory:");
  ASSERT_NE(store, nullptr);
  ASSERT_TRUE(CreateItems(*store).ok());
  ASSERT_TRUE(InsertItem(*store, "a").ok());
  ASSERT_TRUE(InsertItem(*store, "b").ok());
  int64_t changed = -1;
  ASSERT_TRUE(store
                  ->Write([&](Tx& tx) {
                    auto result = tx.Exec("UPDATE items SET note = $1", {"x"});
                    changed = result.ok() ? *result : -1;
                    return result.status();
                  })
                  .ok());
  EXPECT_EQ(changed, 2);
}

TEST_F(SqliteStoreTest, WriteRollsBackWhenFunctionFails) {
  auto store = MustOpen(DbPath());
  ASSERT_NE(store, nullptr);
  ASSERT_TRUE(CreateItems(*store).ok());
  Status status = store->Write([](Tx& tx) {
    auto inserted = tx.Exec("INSERT INTO items (name) VALUES ('doomed')");
    EXPECT_TRUE(inserted.ok());
    return core::InvalidArgument("changed my mind");
  });
  EXPECT_EQ(status.code(), Code::kInvalidArgument);
  EXPECT_EQ(status.message(), "changed my mind");
  EXPECT_EQ(CountItems(*store), 0);
  // The connection is usable afterwards.
  ASSERT_TRUE(InsertItem(*store, "kept").ok());
  EXPECT_EQ(CountItems(*store), 1);
}

TEST_F(SqliteStoreTest, AfterCommitRunsOnlyOnCommitAndOutsideTheWriteLock) {
  auto store = MustOpen(DbPath());
  ASSERT_NE(store, nullptr);
  ASSERT_TRUE(CreateItems(*store).ok());
  int ran = 0;
  int64_t seen_in_callback = -1;
  ASSERT_TRUE(store
                  ->Write([&](Tx& tx) {
                    tx.AfterCommit([&] {
                      ++ran;
                      // Not yet committed work would be invisible here; a write must not
                      // deadlock on the writer lock either.
                      seen_in_callback = CountItems(*store);
                      EXPECT_TRUE(InsertItem(*store, "from-callback").ok());
                    });
                    return tx.Exec("INSERT INTO items (name) VALUES ('a')").status();
                  })
                  .ok());
  EXPECT_EQ(ran, 1);
  EXPECT_EQ(seen_in_callback, 1);
  EXPECT_EQ(CountItems(*store), 2);

  Status rolled_back = store->Write([&](Tx& tx) {
    tx.AfterCommit([&] { ++ran; });
    return core::InvalidArgument("no");
  });
  EXPECT_FALSE(rolled_back.ok());
  EXPECT_EQ(ran, 1);
}

TEST_F(SqliteStoreTest, UniqueAndForeignKeyViolationsAreConflicts) {
  auto store = MustOpen(":memory:");
  ASSERT_NE(store, nullptr);
  ASSERT_TRUE(store->Migrate().ok());
  ASSERT_TRUE(CreateItems(*store).ok());
  ASSERT_TRUE(InsertItem(*store, "same").ok());

  Status unique = InsertItem(*store, "same");
  EXPECT_EQ(unique.code(), Code::kConflict);
  EXPECT_NE(unique.message().find("UNIQUE constraint failed"), std::string::npos)
      << unique.message();

  Status primary = store->Write(
      [](Tx& tx) { return tx.Exec("INSERT INTO items (id, name) VALUES (1, 'other')").status(); });
  EXPECT_EQ(primary.code(), Code::kConflict);

  Status foreign = store->Write([](Tx& tx) {
    return tx
        .Exec(
            "INSERT INTO users (id, organization_id, email, email_lower, name, password_hash, "
            "created_at, updated_at) VALUES ('usr_1', 'org_missing', 'a@b.c', 'a@b.c', 'A', "
            "'h', 0, 0)")
        .status();
  });
  EXPECT_EQ(foreign.code(), Code::kConflict) << foreign.message();
  EXPECT_EQ(CountItems(*store), 1);
}

TEST_F(SqliteStoreTest, ParametersBindByNumberNotPosition) {
  auto store = MustOpen(":memory:");
  ASSERT_NE(store, nullptr);
  ASSERT_TRUE(CreateItems(*store).ok());
  ASSERT_TRUE(store
                  ->Write([](Tx& tx) {
                    // $2 first, $1 twice, and an extra parameter nobody uses.
                    return tx
                        .Exec("INSERT INTO items (name, note, score) VALUES ($2, $1 || $1, $3)",
                              {"note", "name", 1.5, "unused"})
                        .status();
                  })
                  .ok());
  Status status = store->Read([](Tx& tx) {
    auto rows = tx.Query("SELECT name, note, score FROM items WHERE name = $1", {"name"});
    EXPECT_TRUE(rows.ok());
    EXPECT_EQ(rows->size(), 1u);
    EXPECT_EQ((*rows)[0].Str("name"), "name");
    EXPECT_EQ((*rows)[0].Str("note"), "notenote");
    EXPECT_EQ((*rows)[0].Double("score"), 1.5);
    return Status::Ok();
  });
  EXPECT_TRUE(status.ok()) << status.message();
}

TEST_F(SqliteStoreTest, MissingParameterIsInternalError) {
  auto store = MustOpen(":memory:");
  ASSERT_NE(store, nullptr);
  Status status = store->Read([](Tx& tx) {
    return tx.Query("SELECT $1 AS a, $3 AS c", {1, 2}).status();
  });
  EXPECT_EQ(status.code(), Code::kInternal);
  EXPECT_NE(status.message().find("parameter $3 missing"), std::string::npos) << status.message();
}

TEST_F(SqliteStoreTest, ValuesRoundTrip) {
  auto store = MustOpen(DbPath());
  ASSERT_NE(store, nullptr);
  const std::string with_nul("a\0b\0", 4);
  const std::string non_ascii = "Zoë — 学习 🎓";
  const Params values = {
      nullptr, int64_t{INT64_MAX},  int64_t{INT64_MIN}, 0.25, -1e300, with_nul, non_ascii,
      "",      std::optional<int>()};
  ASSERT_TRUE(store
                  ->Write([&](Tx& tx) {
                    LW_RETURN_IF_ERROR(
                        tx.Exec("CREATE TABLE vals (k INTEGER PRIMARY KEY, v)").status());
                    for (std::size_t i = 0; i < values.size(); ++i) {
                      LW_RETURN_IF_ERROR(tx.Exec("INSERT INTO vals (k, v) VALUES ($1, $2)",
                                                 {static_cast<int64_t>(i), values[i]})
                                             .status());
                    }
                    return Status::Ok();
                  })
                  .ok());
  Status status = store->Read([&](Tx& tx) {
    LW_ASSIGN_OR_RETURN(Rows rows, tx.Query("SELECT k, v FROM vals ORDER BY k"));
    EXPECT_EQ(rows.columns, (std::vector<std::string>{"k", "v"}));
    EXPECT_EQ(rows.size(), values.size());
    for (std::size_t i = 0; i < rows.size() && i < values.size(); ++i) {
      EXPECT_EQ(rows[i].At(1).v, values[i].v) << "row " << i;
    }
    EXPECT_TRUE(rows[0].IsNull("v"));
    EXPECT_EQ(rows[5].Str("v").size(), 4u);
    EXPECT_EQ(rows[6].Str("v"), non_ascii);
    EXPECT_FALSE(rows[7].IsNull("v"));
    EXPECT_TRUE(rows[8].IsNull("v"));
    return Status::Ok();
  });
  EXPECT_TRUE(status.ok()) << status.message();
}

TEST_F(SqliteStoreTest, RowAccessorsConvertAndDefault) {
  auto store = MustOpen(":memory:");
  ASSERT_NE(store, nullptr);
  Status status = store->Read([](Tx& tx) {
    LW_ASSIGN_OR_RETURN(Rows rows, tx.Query("SELECT 2.75 AS d, 42 AS i, NULL AS n, 'x' AS s"));
    const Rows::Row row = rows[0];
    EXPECT_EQ(row.Int("d"), 2);
    EXPECT_EQ(row.Str("i"), "42");
    EXPECT_EQ(row.Str("d"), "2.75");
    EXPECT_EQ(row.Double("i"), 42.0);
    EXPECT_EQ(row.Int("n"), 0);
    EXPECT_EQ(row.Str("n"), "");
    EXPECT_EQ(row.OptInt("n"), std::nullopt);
    EXPECT_EQ(row.OptInt("i"), 42);
    EXPECT_EQ(row.OptStr("s"), "x");
    EXPECT_EQ(row.Int("missing"), 0);
    EXPECT_EQ(row.Str("missing"), "");
    EXPECT_TRUE(row.IsNull("missing"));
    EXPECT_TRUE(row.At(99).is_null());
    return Status::Ok();
  });
  EXPECT_TRUE(status.ok()) << status.message();
}

TEST_F(SqliteStoreTest, ReadSeesCommittedDataAndCannotWrite) {
  auto store = MustOpen(DbPath());
  ASSERT_NE(store, nullptr);
  ASSERT_TRUE(CreateItems(*store).ok());
  ASSERT_TRUE(InsertItem(*store, "visible").ok());
  EXPECT_EQ(CountItems(*store), 1);
  ASSERT_TRUE(InsertItem(*store, "also").ok());
  EXPECT_EQ(CountItems(*store), 2);

  Status write_in_read = store->Read(
      [](Tx& tx) { return tx.Exec("INSERT INTO items (name) VALUES ('sneaky')").status(); });
  EXPECT_FALSE(write_in_read.ok());
  EXPECT_EQ(CountItems(*store), 2);
}

TEST_F(SqliteStoreTest, ReadKeepsOneSnapshot) {
  auto store = MustOpen(DbPath());
  ASSERT_NE(store, nullptr);
  ASSERT_TRUE(CreateItems(*store).ok());
  ASSERT_TRUE(InsertItem(*store, "before").ok());
  int64_t first = -1;
  int64_t second = -1;
  Status status = store->Read([&](Tx& tx) {
    LW_ASSIGN_OR_RETURN(Rows before, tx.Query("SELECT COUNT(*) AS n FROM items"));
    first = before[0].Int("n");
    // A write another thread commits meanwhile stays invisible until this read ends.
    std::thread writer([&] { EXPECT_TRUE(InsertItem(*store, "during").ok()); });
    writer.join();
    LW_ASSIGN_OR_RETURN(Rows after, tx.Query("SELECT COUNT(*) AS n FROM items"));
    second = after[0].Int("n");
    return Status::Ok();
  });
  ASSERT_TRUE(status.ok()) << status.message();
  EXPECT_EQ(first, 1);
  EXPECT_EQ(second, 1);
  EXPECT_EQ(CountItems(*store), 2);
}

void WriteConcurrently(const std::vector<Store*>& stores, int threads, int per_thread) {
  std::atomic<int> failures{0};
  std::vector<std::thread> workers;
  for (int t = 0; t < threads; ++t) {
    Store* store = stores[t % stores.size()];
    workers.emplace_back([&, store, t] {
      for (int i = 0; i < per_thread; ++i) {
        Status status = InsertItem(*store, "item-" + std::to_string(t) + "-" + std::to_string(i));
        if (!status.ok()) {
          ADD_FAILURE() << status.message();
          ++failures;
        }
      }
    });
  }
  for (std::thread& worker : workers) {
    worker.join();
  }
  EXPECT_EQ(failures.load(), 0);
}

TEST_F(SqliteStoreTest, ConcurrentWritesAllLand) {
  auto store = MustOpen(DbPath());
  ASSERT_NE(store, nullptr);
  ASSERT_TRUE(CreateItems(*store).ok());
  WriteConcurrently({store.get()}, 4, 200);
  EXPECT_EQ(CountItems(*store), 800);
}

TEST_F(SqliteStoreTest, ConcurrentWritesAllLandInMemory) {
  auto store = MustOpen(":memory:");
  ASSERT_NE(store, nullptr);
  ASSERT_TRUE(CreateItems(*store).ok());
  WriteConcurrently({store.get()}, 4, 200);
  EXPECT_EQ(CountItems(*store), 800);
}

TEST_F(SqliteStoreTest, TwoStoresOnOneFileBothWrite) {
  auto server = MustOpen(DbPath());
  ASSERT_NE(server, nullptr);
  auto cli = MustOpen(DbPath());
  ASSERT_NE(cli, nullptr);
  ASSERT_TRUE(server->Migrate().ok());
  ASSERT_TRUE(cli->Migrate().ok());
  ASSERT_TRUE(CreateItems(*server).ok());
  WriteConcurrently({server.get(), cli.get()}, 4, 200);
  EXPECT_EQ(CountItems(*server), 800);
  EXPECT_EQ(CountItems(*cli), 800);
}

// Checkpoints run on the store's own thread, not in the writer: while the store stays open and
// writes keep coming, the WAL's pages reach the database file and the WAL stays bounded.
TEST_F(SqliteStoreTest, TheWalIsCheckpointedWhileTheStoreIsOpenAndStaysBounded) {
  auto store = MustOpen(DbPath());
  ASSERT_NE(store, nullptr);
  ASSERT_TRUE(CreateItems(*store).ok());
  const auto initial = std::filesystem::file_size(DbPath());
  const std::string note(2000, 'x');  // each transaction adds at least one page
  std::uintmax_t largest_wal = 0;
  for (int i = 0; i < 15'000; ++i) {
    ASSERT_TRUE(store
                    ->Write([&](Tx& tx) {
                      return tx
                          .Exec("INSERT INTO items (name, note) VALUES ($1, $2)",
                                {"n" + std::to_string(i), note})
                          .status();
                    })
                    .ok());
    if (i % 500 == 0) {
      largest_wal = std::max(largest_wal, std::filesystem::file_size(DbPath() + "-wal"));
    }
  }
  // Without a checkpoint the file would keep its initial size until the store closes.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (std::filesystem::file_size(DbPath()) < initial + 10'000'000 &&
         std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_GE(std::filesystem::file_size(DbPath()), initial + 10'000'000);
  // 15,000 transactions of over a page each would make a WAL of over 60 MB unchecked; it is
  // restarted, at the latest when the writer checkpoints at 10,000 frames (each a page + 24 B).
  EXPECT_LT(largest_wal, 10'500u * (4096 + 24));
  EXPECT_EQ(CountItems(*store), 15'000);
}

TEST_F(SqliteStoreTest, ReadersWaitForAFreeConnection) {
  auto store = MustOpen(DbPath(), /*readers=*/2);
  ASSERT_NE(store, nullptr);
  ASSERT_TRUE(CreateItems(*store).ok());
  ASSERT_TRUE(InsertItem(*store, "a").ok());
  std::atomic<int> wrong{0};
  std::vector<std::thread> workers;
  for (int t = 0; t < 8; ++t) {
    workers.emplace_back([&] {
      for (int i = 0; i < 50; ++i) {
        if (CountItems(*store) != 1) {
          ++wrong;
        }
      }
    });
  }
  for (std::thread& worker : workers) {
    worker.join();
  }
  EXPECT_EQ(wrong.load(), 0);
}

TEST_F(SqliteStoreTest, CreatesNestedFolder) {
  const std::filesystem::path path = dir_ / "a" / "b" / "c" / "learnwire.db";
  auto store = MustOpen(path.string());
  ASSERT_NE(store, nullptr);
  ASSERT_TRUE(store->Migrate().ok());
  EXPECT_TRUE(std::filesystem::exists(path));
  EXPECT_EQ(store->Dialect(), "sqlite");
}

TEST_F(SqliteStoreTest, EmptyPathIsInvalid) {
  auto store = OpenSqlite(SqliteOptions{});
  EXPECT_EQ(store.status().code(), Code::kInvalidArgument);
}

}  // namespace
}  // namespace learnwire::store

namespace learnwire::store {
namespace {

TEST(SqliteStoreExceptionTest, AThrowingWriteRollsBackAndReleasesTheLock) {
  auto dir = std::filesystem::temp_directory_path() / ("lw_throw_" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  SqliteOptions options;
  options.path = (dir / "db").string();
  auto opened = OpenSqlite(options);
  ASSERT_TRUE(opened.ok());
  auto& s = *opened.value();
  ASSERT_TRUE(s.Write([](Tx& tx) { return tx.Exec("CREATE TABLE t (x INTEGER)").status(); }).ok());
  core::Status st = s.Write([](Tx& tx) -> core::Status {
    (void)tx.Exec("INSERT INTO t VALUES (1)");
    throw std::runtime_error("boom");
  });
  EXPECT_EQ(st.code(), core::Code::kInternal);
  // A second store on the file (another process, say) can write at once: no lock is held.
  SqliteOptions other = options;
  other.busy_timeout_ms = 100;
  auto second = OpenSqlite(other);
  ASSERT_TRUE(second.ok());
  EXPECT_TRUE(
      (*second)->Write([](Tx& tx) { return tx.Exec("INSERT INTO t VALUES (2)").status(); }).ok());
  int64_t n = -1;
  ASSERT_TRUE(s.Read([&](Tx& tx) -> core::Status {
                 LW_ASSIGN_OR_RETURN(Rows rows, tx.Query("SELECT COUNT(*) AS n FROM t"));
                 n = rows[0].Int("n");
                 return core::Status::Ok();
               }).ok());
  EXPECT_EQ(n, 1);  // the thrown transaction's row is gone
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace learnwire::store
