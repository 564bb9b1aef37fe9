// One SQLite connection with its prepared-statement cache; internal to store/sqlite/.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"
#include "store/store.h"

struct sqlite3;
struct sqlite3_stmt;

namespace learnwire::store::sqlite {

enum class ConnectionRole {
  kWriter,  // sets WAL and the synchronous level
  kReader,  // PRAGMA query_only: a read transaction cannot write by mistake
};

// Maps a SQLite result code to our codes: unique, primary-key and foreign-key violations ->
// kConflict, busy/locked -> kUnavailable, anything else -> kInternal.
core::Status SqliteError(int rc, std::string_view message);

// A sqlite3 handle opened with SQLITE_OPEN_NOMUTEX: not thread-safe, one thread at a time (the
// store hands connections out under its own locks). Owns its cached statements, finalized on
// destruction. Parameters are named `$1`, `$2`, … and bound from params[N-1].
class Connection {
 public:
  static core::Result<std::unique_ptr<Connection>> Open(const SqliteOptions& options,
                                                        ConnectionRole role);
  ~Connection();
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  // One statement each (a trailing ';' is fine).
  core::Result<Rows> Query(std::string_view sql, const Params& params = {});
  core::Status QueryEach(std::string_view sql, const Params& params, const RowVisitor& visit);
  // Returns the number of rows changed.
  core::Result<int64_t> Exec(std::string_view sql, const Params& params = {});
  // Several ';'-separated statements without parameters, not cached (migrations, DDL).
  core::Status ExecScript(const std::string& sql);
  // True while a transaction is open.
  bool InTransaction() const;

  // Replaces SQLite's automatic checkpoint: after each commit, `hook` gets the number of frames
  // in the WAL (it may call Checkpoint() on this connection).
  void SetCommitHook(std::function<void(int frames)> hook);
  // A PASSIVE checkpoint: copies what it can of the WAL into the database without waiting for
  // (or blocking) readers and writers.
  core::Status Checkpoint();

 private:
  // A cached statement and, for each of its parameter slots, the N of its `$N` name (read once:
  // sqlite3_bind_parameter_name walks a list, so naming every slot at every bind would cost
  // O(slots²) for the many-row inserts).
  struct Prepared {
    sqlite3_stmt* stmt = nullptr;
    std::vector<std::size_t> param_numbers;
  };

  explicit Connection(sqlite3* db) : db_(db) {}
  core::Result<const Prepared*> Prepare(std::string_view sql);
  core::Status Bind(const Prepared& p, const Params& params) const;
  core::Status StepError(int rc, std::string_view sql) const;

  sqlite3* db_;
  std::map<std::string, Prepared, std::less<>> statements_;
  std::function<void(int)> commit_hook_;
};

}  // namespace learnwire::store::sqlite
