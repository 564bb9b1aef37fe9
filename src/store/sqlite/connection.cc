#include "store/sqlite/connection.h"

#include <sqlite3.h>

#include <charconv>
#include <string>
#include <type_traits>
#include <utility>
#include <variant>

namespace learnwire::store::sqlite {
namespace {

// SQL text comes from our code, so the cache stays small; the cap only guards against a caller
// that builds SQL with values inlined.
constexpr std::size_t kMaxCachedStatements = 256;
constexpr std::size_t kMaxSqlInMessage = 200;

// Resets a statement and clears its bindings when the use ends, whatever the outcome, so the
// cached statement holds no read lock and no pointer into the caller's params.
class StatementUse {
 public:
  explicit StatementUse(sqlite3_stmt* stmt) : stmt_(stmt) {}
  ~StatementUse() {
    sqlite3_reset(stmt_);
    sqlite3_clear_bindings(stmt_);
  }
  StatementUse(const StatementUse&) = delete;
  StatementUse& operator=(const StatementUse&) = delete;

 private:
  sqlite3_stmt* stmt_;
};

std::string ShortSql(std::string_view sql) {
  if (sql.size() <= kMaxSqlInMessage) {
    return std::string(sql);
  }
  return std::string(sql.substr(0, kMaxSqlInMessage)) + "...";
}

bool OnlySeparators(std::string_view rest) {
  for (char c : rest) {
    if (c != ';' && c != ' ' && c != '\n' && c != '\r' && c != '\t') {
      return false;
    }
  }
  return true;
}

int BindValue(sqlite3_stmt* stmt, int index, const Value& value) {
  return std::visit(
      [&](const auto& v) -> int {
        using T = std::decay_t<decltype(v)>;
        if constexpr (std::is_same_v<T, int64_t>) {
          return sqlite3_bind_int64(stmt, index, v);
        } else if constexpr (std::is_same_v<T, double>) {
          return sqlite3_bind_double(stmt, index, v);
        } else if constexpr (std::is_same_v<T, std::string>) {
          // SQLITE_STATIC: params outlive the step, and StatementUse clears the bindings before
          // the call returns. The explicit length keeps embedded NUL bytes.
          return sqlite3_bind_text64(stmt, index, v.data(), v.size(), SQLITE_STATIC, SQLITE_UTF8);
        } else {
          return sqlite3_bind_null(stmt, index);
        }
      },
      value.v);
}

// The N of each parameter slot's `$N` name, so binding goes by name, not by position: `$2` may
// come before `$1` in the SQL text, and a parameter used twice is one slot.
core::Result<std::vector<std::size_t>> ParamNumbers(sqlite3_stmt* stmt) {
  const int count = sqlite3_bind_parameter_count(stmt);
  std::vector<std::size_t> numbers;
  numbers.reserve(static_cast<std::size_t>(count));
  for (int i = 1; i <= count; ++i) {
    const char* name = sqlite3_bind_parameter_name(stmt, i);
    if (name == nullptr || name[0] != '$') {
      return core::Internal("parameter " + std::to_string(i) + " is not written $N");
    }
    const std::string_view digits(name + 1);
    std::size_t n = 0;
    auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), n);
    if (ec != std::errc() || end != digits.data() + digits.size() || n == 0) {
      return core::Internal(std::string("parameter ") + name + " is not written $N");
    }
    numbers.push_back(n);
  }
  return numbers;
}

Value ColumnValue(sqlite3_stmt* stmt, int column) {
  switch (sqlite3_column_type(stmt, column)) {
    case SQLITE_INTEGER:
      return Value(static_cast<int64_t>(sqlite3_column_int64(stmt, column)));
    case SQLITE_FLOAT:
      return Value(sqlite3_column_double(stmt, column));
    case SQLITE_TEXT: {
      // Pointer first, then the byte count (the order SQLite documents).
      const auto* text = reinterpret_cast<const char*>(sqlite3_column_text(stmt, column));
      const int bytes = sqlite3_column_bytes(stmt, column);
      return Value(text == nullptr ? std::string() : std::string(text, bytes));
    }
    case SQLITE_BLOB: {
      const auto* blob = static_cast<const char*>(sqlite3_column_blob(stmt, column));
      const int bytes = sqlite3_column_bytes(stmt, column);
      return Value(blob == nullptr ? std::string() : std::string(blob, bytes));
    }
    default:
      return Value();
  }
}

int CaptureFirstValue(void* out, int count, char** values, char** /*names*/) {
  if (count > 0 && values[0] != nullptr) {
    *static_cast<std::string*>(out) = values[0];
  }
  return 0;
}

}  // namespace

core::Status SqliteError(int rc, std::string_view message) {
  switch (rc) {
    case SQLITE_CONSTRAINT_UNIQUE:
    case SQLITE_CONSTRAINT_PRIMARYKEY:
    case SQLITE_CONSTRAINT_FOREIGNKEY:
      return core::Conflict("sqlite: " + std::string(message));
    default:
      break;
  }
  const int primary = rc & 0xff;
  if (primary == SQLITE_BUSY || primary == SQLITE_LOCKED) {
    return core::Unavailable("sqlite: database busy: " + std::string(message));
  }
  return core::Internal("sqlite: " + std::string(message));
}

core::Result<std::unique_ptr<Connection>> Connection::Open(const SqliteOptions& options,
                                                           ConnectionRole role) {
  sqlite3* db = nullptr;
  // NOMUTEX: the store guarantees one thread per connection at a time, so SQLite's own
  // per-connection mutex would only cost.
  const int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX;
  const int rc = sqlite3_open_v2(options.path.c_str(), &db, flags, nullptr);
  // The handle exists even when opening failed; the Connection closes it either way.
  std::unique_ptr<Connection> connection(new Connection(db));
  if (rc != SQLITE_OK) {
    const char* message = db != nullptr ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
    return SqliteError(rc, "cannot open " + options.path + ": " + message);
  }
  sqlite3_extended_result_codes(db, 1);
  // The timeout first: switching to WAL takes a lock another process may hold.
  sqlite3_busy_timeout(db, options.busy_timeout_ms);
  LW_RETURN_IF_ERROR(connection->ExecScript("PRAGMA foreign_keys = ON"));

  if (role == ConnectionRole::kReader) {
    LW_RETURN_IF_ERROR(connection->ExecScript("PRAGMA query_only = ON"));
    return connection;
  }
  std::string mode;
  char* error = nullptr;
  const int wal_rc =
      sqlite3_exec(db, "PRAGMA journal_mode = WAL", CaptureFirstValue, &mode, &error);
  if (wal_rc != SQLITE_OK) {
    std::string message = error != nullptr ? error : sqlite3_errmsg(db);
    sqlite3_free(error);
    return SqliteError(wal_rc, "cannot set WAL on " + options.path + ": " + message);
  }
  // An in-memory database answers "memory"; a file must really be in WAL, or readers would
  // block the writer.
  if (mode != "wal" && mode != "memory") {
    return core::Unavailable("sqlite: " + options.path + " stays in journal mode " + mode);
  }
  LW_RETURN_IF_ERROR(connection->ExecScript(
      options.synchronous_full ? "PRAGMA synchronous = FULL" : "PRAGMA synchronous = NORMAL"));
  // The one writer's page cache: 32 MiB rather than SQLite's 2 MiB. A bulk write of 1,000
  // learners (their events and deliveries) dirties more pages than 2 MiB holds, and SQLite then
  // spills them to the WAL mid-transaction and writes them again at commit (B2's profile: 45 % of
  // the server in pwrite). It grows only as pages are used, so an idle server stays small.
  LW_RETURN_IF_ERROR(connection->ExecScript("PRAGMA cache_size = -32768"));
  // Savepoints (one per bulk item; per result when a batch is retried one by one) keep the
  // pages they change in a sub-journal: in memory, not a temporary file written page by page
  // (B2's profile: most of a bulk upsert's time was that file's pwrite).
  LW_RETURN_IF_ERROR(connection->ExecScript("PRAGMA temp_store = MEMORY"));
  return connection;
}

Connection::~Connection() {
  for (auto& [sql, prepared] : statements_) {
    sqlite3_finalize(prepared.stmt);
  }
  sqlite3_close_v2(db_);
}

bool Connection::InTransaction() const { return sqlite3_get_autocommit(db_) == 0; }

void Connection::SetCommitHook(std::function<void(int frames)> hook) {
  commit_hook_ = std::move(hook);
  sqlite3_wal_hook(
      db_,
      [](void* self, sqlite3*, const char*, int frames) -> int {
        static_cast<Connection*>(self)->commit_hook_(frames);
        return SQLITE_OK;  // the commit is done whatever the hook did
      },
      this);
}

core::Status Connection::Checkpoint() {
  const int rc =
      sqlite3_wal_checkpoint_v2(db_, nullptr, SQLITE_CHECKPOINT_PASSIVE, nullptr, nullptr);
  if (rc != SQLITE_OK) {
    return SqliteError(rc, std::string("checkpoint: ") + sqlite3_errmsg(db_));
  }
  return core::Status::Ok();
}

core::Status Connection::StepError(int rc, std::string_view sql) const {
  core::Status status = SqliteError(rc, sqlite3_errmsg(db_));
  if (status.code() == core::Code::kInternal) {
    return core::Internal(status.message() + " in: " + ShortSql(sql));
  }
  return status;
}

core::Status Connection::Bind(const Prepared& p, const Params& params) const {
  for (std::size_t slot = 0; slot < p.param_numbers.size(); ++slot) {
    const std::size_t n = p.param_numbers[slot];
    if (n > params.size()) {
      return core::Internal("parameter $" + std::to_string(n) + " missing");
    }
    const int rc = BindValue(p.stmt, static_cast<int>(slot) + 1, params[n - 1]);
    if (rc != SQLITE_OK) {
      return SqliteError(rc, sqlite3_errmsg(db_));
    }
  }
  return core::Status::Ok();
}

core::Result<const Connection::Prepared*> Connection::Prepare(std::string_view sql) {
  if (auto it = statements_.find(sql); it != statements_.end()) {
    return &it->second;
  }
  // No statement is in use between calls (Query and Exec reset theirs before returning), so
  // dropping the whole cache here is safe.
  if (statements_.size() >= kMaxCachedStatements) {
    for (auto& [text, prepared] : statements_) {
      sqlite3_finalize(prepared.stmt);
    }
    statements_.clear();
  }
  sqlite3_stmt* stmt = nullptr;
  const char* tail = nullptr;
  const int rc = sqlite3_prepare_v3(db_, sql.data(), static_cast<int>(sql.size()),
                                    SQLITE_PREPARE_PERSISTENT, &stmt, &tail);
  if (rc != SQLITE_OK) {
    return StepError(rc, sql);
  }
  if (stmt == nullptr) {
    return core::Internal("sqlite: empty statement: " + ShortSql(sql));
  }
  const std::size_t used = static_cast<std::size_t>(tail - sql.data());
  if (!OnlySeparators(sql.substr(used))) {
    sqlite3_finalize(stmt);
    return core::Internal("sqlite: several statements in one call: " + ShortSql(sql));
  }
  auto numbers = ParamNumbers(stmt);
  if (!numbers.ok()) {
    sqlite3_finalize(stmt);
    return numbers.status();
  }
  auto [it, inserted] =
      statements_.emplace(std::string(sql), Prepared{stmt, std::move(numbers).value()});
  return &it->second;
}

namespace {

// The statement's current row, read in place.
class StatementRow final : public RowView {
 public:
  explicit StatementRow(sqlite3_stmt* stmt) : stmt_(stmt) {}
  bool IsNull(int column) const override {
    return sqlite3_column_type(stmt_, column) == SQLITE_NULL;
  }
  int64_t Int(int column) const override { return sqlite3_column_int64(stmt_, column); }
  std::string_view Text(int column) const override {
    // Pointer first, then the byte count (the order SQLite documents).
    const auto* text = reinterpret_cast<const char*>(sqlite3_column_text(stmt_, column));
    const int bytes = sqlite3_column_bytes(stmt_, column);
    return text == nullptr ? std::string_view() : std::string_view(text, bytes);
  }

 private:
  sqlite3_stmt* stmt_;
};

}  // namespace

core::Status Connection::QueryEach(std::string_view sql, const Params& params,
                                   const RowVisitor& visit) {
  LW_ASSIGN_OR_RETURN(const Prepared* prepared, Prepare(sql));
  sqlite3_stmt* stmt = prepared->stmt;
  StatementUse use(stmt);
  LW_RETURN_IF_ERROR(Bind(*prepared, params));
  StatementRow row(stmt);
  int rc = SQLITE_OK;
  while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
    LW_RETURN_IF_ERROR(visit(row));
  }
  if (rc != SQLITE_DONE) {
    return StepError(rc, sql);
  }
  return core::Status::Ok();
}

core::Result<Rows> Connection::Query(std::string_view sql, const Params& params) {
  LW_ASSIGN_OR_RETURN(const Prepared* prepared, Prepare(sql));
  sqlite3_stmt* stmt = prepared->stmt;
  StatementUse use(stmt);
  LW_RETURN_IF_ERROR(Bind(*prepared, params));
  Rows rows;
  const int columns = sqlite3_column_count(stmt);
  rows.columns.reserve(columns);
  for (int c = 0; c < columns; ++c) {
    const char* name = sqlite3_column_name(stmt, c);
    rows.columns.emplace_back(name == nullptr ? "" : name);
  }
  int rc = SQLITE_OK;
  while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
    std::vector<Value>& row = rows.values.emplace_back();
    row.reserve(columns);
    for (int c = 0; c < columns; ++c) {
      row.push_back(ColumnValue(stmt, c));
    }
  }
  if (rc != SQLITE_DONE) {
    return StepError(rc, sql);
  }
  return rows;
}

core::Result<int64_t> Connection::Exec(std::string_view sql, const Params& params) {
  LW_ASSIGN_OR_RETURN(const Prepared* prepared, Prepare(sql));
  sqlite3_stmt* stmt = prepared->stmt;
  StatementUse use(stmt);
  LW_RETURN_IF_ERROR(Bind(*prepared, params));
  int rc = SQLITE_OK;
  // Rows from RETURNING are stepped through and dropped.
  while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
  }
  if (rc != SQLITE_DONE) {
    return StepError(rc, sql);
  }
  return static_cast<int64_t>(sqlite3_changes64(db_));
}

core::Status Connection::ExecScript(const std::string& sql) {
  char* error = nullptr;
  const int rc = sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, &error);
  if (rc == SQLITE_OK) {
    return core::Status::Ok();
  }
  std::string message = error != nullptr ? error : sqlite3_errmsg(db_);
  sqlite3_free(error);
  core::Status status = SqliteError(rc, message);
  if (status.code() == core::Code::kInternal) {
    return core::Internal(status.message() + " in: " + ShortSql(sql));
  }
  return status;
}

}  // namespace learnwire::store::sqlite
