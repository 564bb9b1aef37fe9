// The Store: transactions over a relational database, behind one interface that the SQLite
// backend (store/sqlite/) and, later, PostgreSQL implement. SQL is written once, in the subset
// both dialects accept, with positional parameters `$1`, `$2`, … . The store knows tables and
// rows, never JSON bodies or HTTP. A Store is thread-safe; a Tx belongs to the thread running the
// transaction function and must not escape it.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "core/status.h"

namespace learnwire::store {

// A SQL value: NULL, a 64-bit integer, a double or text (UTF-8 or raw bytes).
struct Value {
  std::variant<std::monostate, int64_t, double, std::string> v;

  Value() = default;
  Value(std::nullptr_t) {}                                     // NOLINT: implicit by design
  Value(int v_in) : v(static_cast<int64_t>(v_in)) {}           // NOLINT
  Value(int64_t v_in) : v(v_in) {}                             // NOLINT
  Value(bool v_in) : v(static_cast<int64_t>(v_in ? 1 : 0)) {}  // NOLINT
  Value(double v_in) : v(v_in) {}                              // NOLINT
  Value(std::string v_in) : v(std::move(v_in)) {}              // NOLINT
  Value(std::string_view v_in) : v(std::string(v_in)) {}       // NOLINT
  Value(const char* v_in) : v(std::string(v_in)) {}            // NOLINT
  template <typename T>
  Value(const std::optional<T>& o) {  // NOLINT: NULL when empty
    if (o) {
      *this = Value(*o);
    }
  }

  // Out of line (rows.cc): an inline destructor makes GCC 12 at -O3 warn, wrongly, that the
  // string alternative may be used uninitialized when a braced Params holds no string.
  ~Value();
  Value(const Value&) = default;
  Value(Value&&) noexcept = default;
  Value& operator=(const Value&) = default;
  Value& operator=(Value&&) noexcept = default;

  bool is_null() const { return std::holds_alternative<std::monostate>(v); }
};

using Params = std::vector<Value>;

// The rows a query returned, with column names. Accessors are by column name; asking for a
// missing column or the wrong type is a programming error (returns a zero value).
class Rows {
 public:
  class Row {
   public:
    Row(const Rows* rows, std::size_t index) : rows_(rows), index_(index) {}
    bool IsNull(std::string_view column) const;
    int64_t Int(std::string_view column) const;      // NULL -> 0
    double Double(std::string_view column) const;    // NULL -> 0
    std::string Str(std::string_view column) const;  // NULL -> ""
    std::optional<int64_t> OptInt(std::string_view column) const;
    std::optional<std::string> OptStr(std::string_view column) const;
    const Value& At(std::size_t column_index) const;

   private:
    const Value* Find(std::string_view column) const;
    const Rows* rows_;
    std::size_t index_;
    // Where the next lookup starts: callers mostly read columns in select-list order, so the
    // search usually hits at once.
    mutable std::size_t hint_ = 0;
  };

  std::vector<std::string> columns;
  std::vector<std::vector<Value>> values;

  std::size_t size() const { return values.size(); }
  bool empty() const { return values.empty(); }
  Row operator[](std::size_t i) const { return Row(this, i); }
};

// The current row of a running query, read in place (no copy). Valid only during the visitor
// call that received it; columns by position in the select list.
class RowView {
 public:
  virtual ~RowView() = default;
  virtual bool IsNull(int column) const = 0;
  virtual int64_t Int(int column) const = 0;            // NULL -> 0
  virtual std::string_view Text(int column) const = 0;  // NULL -> ""
};
using RowVisitor = std::function<core::Status(const RowView&)>;

// One open transaction. Errors from the database map to: unique or foreign-key violation ->
// kConflict, busy/locked beyond the timeout -> kUnavailable, anything else -> kInternal.
class Tx {
 public:
  virtual ~Tx() = default;
  virtual core::Result<Rows> Query(std::string_view sql, const Params& params = {}) = 0;
  // Returns the number of rows changed.
  virtual core::Result<int64_t> Exec(std::string_view sql, const Params& params = {}) = 0;
  // Streams the rows to `visit` without materializing them (the hot list path). A non-ok Status
  // from `visit` stops the query and is returned.
  virtual core::Status QueryEach(std::string_view sql, const Params& params,
                                 const RowVisitor& visit) = 0;
  // Runs `fn` once the transaction has committed (never when it rolls back), on the committing
  // thread after the store's locks are released: how a write wakes the dispatcher.
  virtual void AfterCommit(std::function<void()> fn) = 0;
  // "sqlite" or "postgres", for the few statements that differ.
  virtual std::string_view Dialect() const = 0;
  // Tells every process listening on `channel` (Store::Listen) once this transaction commits;
  // once per channel per transaction. A PostgreSQL NOTIFY; nothing on SQLite, whose writers all
  // live in one process (AfterCommit reaches them). `channel`: lower case letters, digits, '_'.
  virtual core::Status Notify(std::string_view channel) = 0;
};

// Periodic jobs run on one node at a time: true when this transaction now holds the job lock
// `key` (a PostgreSQL advisory lock, released when the transaction ends; false when another
// transaction holds it). Always true on SQLite, which has one dispatcher per file.
inline core::Result<bool> TryJobLock(Tx& tx, int64_t key) {
  if (tx.Dialect() != "postgres") {
    return true;
  }
  LW_ASSIGN_OR_RETURN(
      Rows rows, tx.Query("SELECT pg_try_advisory_xact_lock(" + std::to_string(key) + ") AS mine"));
  return rows[0].Int("mine") == 1;
}

// " FOR UPDATE [of]" on PostgreSQL (row locks for read-then-write), nothing on SQLite, whose
// write transactions already exclude each other.
inline std::string ForUpdate(const Tx& tx, std::string_view of = {}) {
  if (tx.Dialect() != "postgres") {
    return {};
  }
  return of.empty() ? " FOR UPDATE" : " FOR UPDATE " + std::string(of);
}

using TxFunction = std::function<core::Status(Tx&)>;

// Listening to a channel; stops when destroyed.
class Listener {
 public:
  virtual ~Listener() = default;
};

class Store {
 public:
  virtual ~Store() = default;
  // Runs `fn` in a read-only transaction (a consistent snapshot).
  virtual core::Status Read(const TxFunction& fn) = 0;
  // Runs `fn` in a write transaction: committed when `fn` returns ok, rolled back otherwise.
  // Writers are serialized.
  virtual core::Status Write(const TxFunction& fn) = 0;
  // Applies pending numbered migrations; refuses a schema newer than this binary knows.
  virtual core::Status Migrate() = 0;
  // Ok when the database answers and every migration is applied.
  virtual core::Status Ready() = 0;
  // "sqlite" or "postgres": for the few statements that differ.
  virtual std::string_view Dialect() const = 0;
  // Calls `on_notify`, on a thread of its own, after each commit of any process that notified
  // `channel` (Tx::Notify), and after each (re)connection, since notifications sent while it was
  // not listening are lost. Reconnects by itself. nullptr on SQLite (nothing to listen to).
  virtual std::unique_ptr<Listener> Listen(std::string channel, std::function<void()> on_notify) {
    (void)channel;
    (void)on_notify;
    return nullptr;
  }
};

struct SqliteOptions {
  std::string path;               // file path; ":memory:" for tests (one shared connection)
  bool synchronous_full = false;  // PRAGMA synchronous = FULL instead of NORMAL (WAL either way)
  int busy_timeout_ms = 5000;
  int readers = 4;  // read connections in the pool
};

// Opens (creating the file and its folder when absent) a SQLite store in WAL mode.
core::Result<std::unique_ptr<Store>> OpenSqlite(const SqliteOptions& options);
// OpenSqlite, then Migrate: a store ready to use (the program's, or a test's ":memory:" one).
core::Result<std::unique_ptr<Store>> OpenMigratedSqlite(const SqliteOptions& options);

struct PostgresOptions {
  std::string url;     // postgres://user@host:port/database (libpq connection URI)
  int pool_size = 16;  // connections at most, opened as needed
};

// Connects to a PostgreSQL database (Unavailable when it does not answer).
core::Result<std::unique_ptr<Store>> OpenPostgres(const PostgresOptions& options);
core::Result<std::unique_ptr<Store>> OpenMigratedPostgres(const PostgresOptions& options);

}  // namespace learnwire::store
