#include "store/postgres/pg_store.h"

#include <algorithm>
#include <chrono>
#include <functional>
#include <optional>
#include <string>
#include <utility>

#include "store/connection_tx.h"
#include "store/migrations.h"
#include "store/postgres/connection.h"
#include "store/postgres/listener.h"

namespace learnwire::store {

core::Result<std::unique_ptr<Store>> OpenPostgres(const PostgresOptions& options) {
  return postgres::PgStore::Open(options);
}

core::Result<std::unique_ptr<Store>> OpenMigratedPostgres(const PostgresOptions& options) {
  LW_ASSIGN_OR_RETURN(std::unique_ptr<Store> s, OpenPostgres(options));
  LW_RETURN_IF_ERROR(s->Migrate());
  return s;
}

}  // namespace learnwire::store

namespace learnwire::store::postgres {

namespace {

// pg_advisory_lock key held while migrating: nodes starting together migrate one at a time.
constexpr int64_t kMigrationLock = 0x4c65'6172'6e77'6972;  // "Learnwir"

constexpr std::string_view kCreateMigrationsTable = R"sql(
CREATE TABLE IF NOT EXISTS schema_migrations (
  version BIGINT PRIMARY KEY,
  name TEXT NOT NULL,
  applied_at BIGINT NOT NULL
))sql";

int LatestKnownVersion() {
  int latest = 0;
  for (const Migration& m : PostgresMigrations()) {
    latest = std::max(latest, m.version);
  }
  return latest;
}

int64_t NowUnixMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

using PgTx = ConnectionTx<Connection>;

}  // namespace

PgStore::PgStore(PostgresOptions options) : options_(std::move(options)) {}

PgStore::~PgStore() = default;

core::Result<std::unique_ptr<Store>> PgStore::Open(const PostgresOptions& options) {
  if (options.url.empty()) {
    return core::InvalidArgument("postgres: empty URL");
  }
  auto store = std::unique_ptr<PgStore>(new PgStore(options));
  // Connect once now, so a wrong URL fails at start rather than at the first request.
  LW_ASSIGN_OR_RETURN(std::unique_ptr<Connection> c, store->Acquire());
  store->Release(std::move(c));
  return std::unique_ptr<Store>(std::move(store));
}

core::Result<std::unique_ptr<Connection>> PgStore::Acquire() {
  {
    std::unique_lock<std::mutex> lock(mu_);
    released_.wait(lock, [&] { return !idle_.empty() || open_ < options_.pool_size; });
    if (!idle_.empty()) {
      std::unique_ptr<Connection> c = std::move(idle_.back());
      idle_.pop_back();
      return c;
    }
    ++open_;
  }
  core::Result<std::unique_ptr<Connection>> c = Connection::Open(options_.url);
  if (!c.ok()) {
    std::lock_guard<std::mutex> lock(mu_);
    --open_;
    released_.notify_one();
  }
  return c;
}

void PgStore::Release(std::unique_ptr<Connection> c) {
  std::lock_guard<std::mutex> lock(mu_);
  if (c && c->Healthy()) {
    idle_.push_back(std::move(c));
  } else {
    --open_;  // a broken connection is dropped; a new one is opened when needed
  }
  released_.notify_one();
}

core::Status PgStore::Run(std::string_view begin, const TxFunction& fn) {
  LW_ASSIGN_OR_RETURN(std::unique_ptr<Connection> c, Acquire());
  core::Status status = c->Simple(begin);
  std::optional<PgTx> tx;
  if (status.ok()) {
    tx.emplace(*c, "postgres");
    try {
      status = fn(*tx);
    } catch (const std::exception& e) {
      status = core::Internal(std::string("transaction function threw: ") + e.what());
    } catch (...) {
      status = core::Internal("transaction function threw");
    }
    if (status.ok()) {
      status = c->Simple("COMMIT");
    }
    if (!status.ok()) {
      (void)c->Simple("ROLLBACK");
    }
  }
  Release(std::move(c));
  if (status.ok() && tx) {
    tx->Committed();
  }
  return status;
}

std::unique_ptr<Listener> PgStore::Listen(std::string channel, std::function<void()> on_notify) {
  for (char ch : channel) {
    if (!((ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '_')) {
      return nullptr;  // not an identifier LISTEN could take as is: a programming error
    }
  }
  return std::make_unique<PgListener>(options_.url, std::move(channel), std::move(on_notify));
}

core::Status PgStore::Read(const TxFunction& fn) {
  return Run("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY", fn);
}

core::Status PgStore::Write(const TxFunction& fn) {
  // A deadlock or a serialization failure aborts the transaction; the function only touched the
  // database (AfterCommit work runs after a commit), so it is run again, a few times at most.
  constexpr int kAttempts = 3;
  core::Status status;
  for (int i = 0; i < kAttempts; ++i) {
    status = Run("BEGIN", fn);
    // Only these two say for certain that nothing was committed (a lost connection does not).
    const bool retry = status.code() == core::Code::kUnavailable &&
                       (status.message().find("deadlock detected") != std::string::npos ||
                        status.message().find("could not serialize") != std::string::npos);
    if (!retry) {
      break;
    }
  }
  return status;
}

core::Status PgStore::Migrate() {
  const int latest = LatestKnownVersion();
  LW_ASSIGN_OR_RETURN(std::unique_ptr<Connection> c, Acquire());
  core::Status status =
      c->Simple("SELECT pg_advisory_lock(" + std::to_string(kMigrationLock) + ")");
  if (status.ok()) {
    status = [&]() -> core::Status {
      LW_RETURN_IF_ERROR(c->Simple(std::string(kCreateMigrationsTable)));
      LW_ASSIGN_OR_RETURN(
          Rows rows,
          c->Query("SELECT COALESCE(MAX(version), 0) AS version FROM schema_migrations", {}));
      const int64_t current = rows.empty() ? 0 : rows[0].Int("version");
      if (current > latest) {
        return core::Unavailable("database schema version " + std::to_string(current) +
                                 " is newer than this binary (" + std::to_string(latest) + ")");
      }
      for (const Migration& m : PostgresMigrations()) {
        if (m.version <= current) {
          continue;
        }
        // Each migration in its own transaction (DDL is transactional in PostgreSQL).
        LW_RETURN_IF_ERROR(c->Simple("BEGIN"));
        core::Status applied = c->Simple(m.sql);
        if (applied.ok()) {
          applied = c->Exec(
                         "INSERT INTO schema_migrations (version, name, applied_at) "
                         "VALUES ($1, $2, $3)",
                         {static_cast<int64_t>(m.version), std::string(m.name), NowUnixMs()})
                        .status();
        }
        if (applied.ok()) {
          applied = c->Simple("COMMIT");
        }
        if (!applied.ok()) {
          (void)c->Simple("ROLLBACK");
          return core::Status(applied.code(), "migration " + std::to_string(m.version) + " (" +
                                                  std::string(m.name) + "): " + applied.message());
        }
      }
      return core::Status::Ok();
    }();
    (void)c->Simple("SELECT pg_advisory_unlock(" + std::to_string(kMigrationLock) + ")");
  }
  Release(std::move(c));
  return status;
}

core::Status PgStore::Ready() {
  LW_ASSIGN_OR_RETURN(std::unique_ptr<Connection> c, Acquire());
  core::Result<Rows> rows =
      c->Query("SELECT COALESCE(MAX(version), 0) AS version FROM schema_migrations", {});
  Release(std::move(c));
  if (!rows.ok()) {
    return core::Unavailable("schema not migrated: " + rows.status().message());
  }
  const int64_t current = rows->empty() ? 0 : (*rows)[0].Int("version");
  if (current != LatestKnownVersion()) {
    return core::Unavailable("schema version " + std::to_string(current) + ", binary expects " +
                             std::to_string(LatestKnownVersion()));
  }
  return core::Status::Ok();
}

}  // namespace learnwire::store::postgres
