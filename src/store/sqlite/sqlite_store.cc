#include "store/sqlite/sqlite_store.h"

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <system_error>
#include <utility>
#include <vector>

#include "store/connection_tx.h"
#include "store/migrations.h"
#include "store/sqlite/connection.h"

namespace learnwire::store {
namespace sqlite {
namespace {

constexpr std::string_view kMemoryPath = ":memory:";

constexpr std::string_view kCreateMigrationsTable = R"sql(
CREATE TABLE IF NOT EXISTS schema_migrations (
  version INTEGER PRIMARY KEY,
  name TEXT NOT NULL,
  applied_at INTEGER NOT NULL
))sql";

using SqliteTx = ConnectionTx<Connection>;

// Runs `fn` between `begin` and COMMIT; rolls back when fn or COMMIT fails, so the connection
// always goes back to its owner outside any transaction.
core::Status RunInTransaction(Connection& connection, std::string_view begin,
                              const std::function<core::Status(Connection&)>& fn) {
  if (connection.InTransaction()) {
    (void)connection.Exec("ROLLBACK");
  }
  core::Result<int64_t> began = connection.Exec(begin);
  if (!began.ok()) {
    return began.status();
  }
  core::Status status;
  // A function that throws (a library below it did) must not leave the connection inside a
  // transaction holding the file's write lock: the exception becomes an internal error here.
  try {
    status = fn(connection);
  } catch (const std::exception& e) {
    status = core::Internal(std::string("transaction function threw: ") + e.what());
  } catch (...) {
    status = core::Internal("transaction function threw");
  }
  if (status.ok()) {
    core::Result<int64_t> committed = connection.Exec("COMMIT");
    if (committed.ok()) {
      return core::Status::Ok();
    }
    status = committed.status();
  }
  // Some errors (a full disk, an interrupted statement) end the transaction by themselves.
  if (connection.InTransaction()) {
    (void)connection.Exec("ROLLBACK");
  }
  return status;
}

int LatestKnownVersion() {
  int latest = 0;
  for (const Migration& migration : SqliteMigrations()) {
    latest = std::max(latest, migration.version);
  }
  return latest;
}

int64_t NowUnixMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

core::Status CreateParentFolder(const std::string& path) {
  const std::filesystem::path parent = std::filesystem::path(path).parent_path();
  if (parent.empty()) {
    return core::Status::Ok();
  }
  std::error_code ec;
  std::filesystem::create_directories(parent, ec);
  if (ec) {
    return core::Internal("cannot create folder " + parent.string() + ": " + ec.message());
  }
  return core::Status::Ok();
}

}  // namespace

core::Result<std::unique_ptr<Store>> SqliteStore::Open(const SqliteOptions& options) {
  if (options.path.empty()) {
    return core::InvalidArgument("sqlite: the database path is empty");
  }
  if (options.path != kMemoryPath) {
    LW_RETURN_IF_ERROR(CreateParentFolder(options.path));
  }
  LW_ASSIGN_OR_RETURN(std::unique_ptr<Connection> writer,
                      Connection::Open(options, ConnectionRole::kWriter));
  return std::unique_ptr<Store>(new SqliteStore(options, std::move(writer)));
}

namespace {

// SQLite's automatic checkpoint runs in the committing writer once the WAL holds 1,000 frames,
// and holds up every write behind it (B2's profile of single creates: 15 % of the server,
// fdatasync included). Here the same threshold wakes a checkpointer thread with a connection of
// its own, whose PASSIVE checkpoint copies pages while the writer goes on. Should the WAL still
// reach kInlineCheckpointFrames (a checkpoint that never completes while writes keep coming, so
// the WAL is never restarted), the writer checkpoints itself, as SQLite would: the WAL stays
// bounded. Durability is SQLite's (synchronous NORMAL syncs the WAL at each checkpoint).
constexpr int kCheckpointFrames = 1000;
constexpr int kInlineCheckpointFrames = 10 * kCheckpointFrames;

}  // namespace

SqliteStore::SqliteStore(SqliteOptions options, std::unique_ptr<Connection> writer)
    : options_(std::move(options)),
      in_memory_(options_.path == kMemoryPath),
      writer_(std::move(writer)) {
  if (in_memory_) {
    return;
  }
  writer_->SetCommitHook([this](int frames) {
    if (frames >= kInlineCheckpointFrames) {
      // After the checkpointer's current run, if any: two checkpoints cannot run at once.
      std::lock_guard<std::mutex> running(checkpoint_running_);
      (void)writer_->Checkpoint();  // a failure is SQLite's autocheckpoint's: the next retries
      frames_asked_ = 0;
      return;
    }
    if (frames < frames_asked_) {
      frames_asked_ = 0;  // the WAL was restarted
    }
    if (frames - frames_asked_ >= kCheckpointFrames) {
      frames_asked_ = frames;
      std::lock_guard<std::mutex> lock(checkpoint_mutex_);
      checkpoint_wanted_ = true;
      checkpoint_wanted_cv_.notify_one();
    }
  });
  checkpointer_ = std::thread([this] { Checkpoints(); });
}

// The checkpointer and the readers close before the writer, so the last connection to close
// (which checkpoints and removes the WAL file) is the one allowed to write.
SqliteStore::~SqliteStore() {
  if (checkpointer_.joinable()) {
    {
      std::lock_guard<std::mutex> lock(checkpoint_mutex_);
      stopping_ = true;
    }
    checkpoint_wanted_cv_.notify_one();
    checkpointer_.join();
  }
  std::lock_guard<std::mutex> lock(readers_mutex_);
  idle_readers_.clear();
}

void SqliteStore::Checkpoints() {
  std::unique_ptr<Connection> connection;  // opened at the first checkpoint
  while (true) {
    {
      std::unique_lock<std::mutex> lock(checkpoint_mutex_);
      checkpoint_wanted_cv_.wait(lock, [&] { return checkpoint_wanted_ || stopping_; });
      if (stopping_) {
        return;
      }
      checkpoint_wanted_ = false;
    }
    if (!connection) {
      auto opened = Connection::Open(options_, ConnectionRole::kWriter);
      if (!opened.ok()) {
        continue;  // the writer checkpoints itself at kInlineCheckpointFrames
      }
      connection = std::move(opened).value();
    }
    // A failure (busy: another process's checkpoint) is harmless: the next one catches up.
    std::lock_guard<std::mutex> running(checkpoint_running_);
    (void)connection->Checkpoint();
  }
}

core::Result<std::unique_ptr<Connection>> SqliteStore::AcquireReader() {
  const int pool_size = std::max(1, options_.readers);
  {
    std::unique_lock<std::mutex> lock(readers_mutex_);
    reader_released_.wait(lock,
                          [&] { return !idle_readers_.empty() || open_readers_ < pool_size; });
    if (!idle_readers_.empty()) {
      std::unique_ptr<Connection> reader = std::move(idle_readers_.back());
      idle_readers_.pop_back();
      return reader;
    }
    ++open_readers_;
  }
  // Opened outside the lock: opening touches the file and may wait on busy_timeout.
  core::Result<std::unique_ptr<Connection>> opened =
      Connection::Open(options_, ConnectionRole::kReader);
  if (!opened.ok()) {
    std::lock_guard<std::mutex> lock(readers_mutex_);
    --open_readers_;
    reader_released_.notify_one();
  }
  return opened;
}

void SqliteStore::ReleaseReader(std::unique_ptr<Connection> reader) {
  {
    std::lock_guard<std::mutex> lock(readers_mutex_);
    idle_readers_.push_back(std::move(reader));
  }
  reader_released_.notify_one();
}

core::Status SqliteStore::ReadOnConnection(const ConnectionFunction& fn) {
  if (in_memory_) {
    std::lock_guard<std::mutex> lock(writer_mutex_);
    return RunInTransaction(*writer_, "BEGIN", fn);
  }
  LW_ASSIGN_OR_RETURN(std::unique_ptr<Connection> reader, AcquireReader());
  // Deferred: the snapshot starts at the first read and holds until COMMIT.
  core::Status status = RunInTransaction(*reader, "BEGIN", fn);
  ReleaseReader(std::move(reader));
  return status;
}

// BEGIN IMMEDIATE takes the write lock up front: a deferred transaction that reads and then
// writes could fail with SQLITE_BUSY_SNAPSHOT when another process wrote in between, whereas
// IMMEDIATE waits on busy_timeout for the lock and then never conflicts.
core::Status SqliteStore::WriteOnConnection(const ConnectionFunction& fn) {
  std::lock_guard<std::mutex> lock(writer_mutex_);
  return RunInTransaction(*writer_, "BEGIN IMMEDIATE", fn);
}

core::Status SqliteStore::Read(const TxFunction& fn) {
  std::optional<SqliteTx> tx;
  core::Status status = ReadOnConnection([&](Connection& connection) {
    tx.emplace(connection, "sqlite");
    return fn(*tx);
  });
  if (status.ok() && tx) {
    tx->Committed();
  }
  return status;
}

core::Status SqliteStore::Write(const TxFunction& fn) {
  std::optional<SqliteTx> tx;
  core::Status status = WriteOnConnection([&](Connection& connection) {
    tx.emplace(connection, "sqlite");
    return fn(*tx);
  });
  // Outside the writer lock: a woken thread may write at once.
  if (status.ok() && tx) {
    tx->Committed();
  }
  return status;
}

// All pending migrations run in one write transaction: two processes starting together
// serialize on the write lock, and the second finds nothing left to do. A schema newer than
// this binary is refused rather than used half-understood.
core::Status SqliteStore::Migrate() {
  const int latest = LatestKnownVersion();
  return WriteOnConnection([&](Connection& connection) -> core::Status {
    LW_RETURN_IF_ERROR(connection.ExecScript(std::string(kCreateMigrationsTable)));
    LW_ASSIGN_OR_RETURN(
        Rows rows,
        connection.Query("SELECT COALESCE(MAX(version), 0) AS version FROM schema_migrations"));
    const int64_t current = rows.empty() ? 0 : rows[0].Int("version");
    if (current > latest) {
      return core::Unavailable("database schema version " + std::to_string(current) +
                               " is newer than this binary (" + std::to_string(latest) + ")");
    }
    std::vector<Migration> pending;
    for (const Migration& migration : SqliteMigrations()) {
      if (migration.version > current) {
        pending.push_back(migration);
      }
    }
    std::sort(pending.begin(), pending.end(),
              [](const Migration& a, const Migration& b) { return a.version < b.version; });
    for (const Migration& migration : pending) {
      core::Status applied = connection.ExecScript(std::string(migration.sql));
      if (!applied.ok()) {
        return core::Status(applied.code(), "migration " + std::to_string(migration.version) +
                                                " (" + std::string(migration.name) +
                                                "): " + applied.message());
      }
      core::Result<int64_t> recorded = connection.Exec(
          "INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, $2, $3)",
          {migration.version, migration.name, NowUnixMs()});
      if (!recorded.ok()) {
        return recorded.status();
      }
    }
    return core::Status::Ok();
  });
}

core::Status SqliteStore::Ready() {
  const int latest = LatestKnownVersion();
  int64_t current = 0;
  core::Status status = ReadOnConnection([&](Connection& connection) -> core::Status {
    LW_ASSIGN_OR_RETURN(
        Rows rows,
        connection.Query("SELECT COALESCE(MAX(version), 0) AS version FROM schema_migrations"));
    current = rows.empty() ? 0 : rows[0].Int("version");
    return core::Status::Ok();
  });
  if (!status.ok()) {
    return core::Unavailable("database not ready: " + status.message());
  }
  if (current != latest) {
    return core::Unavailable("database schema version " + std::to_string(current) +
                             ", this binary expects " + std::to_string(latest));
  }
  return core::Status::Ok();
}

}  // namespace sqlite

core::Result<std::unique_ptr<Store>> OpenSqlite(const SqliteOptions& options) {
  return sqlite::SqliteStore::Open(options);
}

core::Result<std::unique_ptr<Store>> OpenMigratedSqlite(const SqliteOptions& options) {
  LW_ASSIGN_OR_RETURN(std::unique_ptr<Store> store, OpenSqlite(options));
  LW_RETURN_IF_ERROR(store->Migrate());
  return store;
}

}  // namespace learnwire::store
