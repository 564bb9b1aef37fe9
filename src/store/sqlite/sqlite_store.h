// The SQLite Store; internal to store/ (others call OpenSqlite from store/store.h).
#pragma once

#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <string_view>
#include <vector>

#include "core/status.h"
#include "store/store.h"

namespace learnwire::store::sqlite {

class Connection;

// A Store over one SQLite file in WAL mode: one writer connection behind a mutex (writes are
// serialized; other processes writing the same file are waited for up to busy_timeout_ms) and
// a lazily filled pool of `readers` read connections, each read a deferred transaction (one
// snapshot). ":memory:" uses one connection for both, behind the writer mutex. Thread-safe;
// must outlive every call into it.
class SqliteStore final : public Store {
 public:
  static core::Result<std::unique_ptr<Store>> Open(const SqliteOptions& options);
  ~SqliteStore() override;

  core::Status Read(const TxFunction& fn) override;
  core::Status Write(const TxFunction& fn) override;
  core::Status Migrate() override;
  core::Status Ready() override;
  std::string_view Dialect() const override { return "sqlite"; }

 private:
  using ConnectionFunction = std::function<core::Status(Connection&)>;

  SqliteStore(SqliteOptions options, std::unique_ptr<Connection> writer);
  core::Status ReadOnConnection(const ConnectionFunction& fn);
  core::Status WriteOnConnection(const ConnectionFunction& fn);
  core::Result<std::unique_ptr<Connection>> AcquireReader();
  void ReleaseReader(std::unique_ptr<Connection> reader);

  const SqliteOptions options_;
  const bool in_memory_;

  std::mutex writer_mutex_;
  std::unique_ptr<Connection> writer_;  // used only under writer_mutex_

  std::mutex readers_mutex_;
  std::condition_variable reader_released_;
  std::vector<std::unique_ptr<Connection>> idle_readers_;  // guarded by readers_mutex_
  int open_readers_ = 0;                                   // idle + lent; guarded likewise
};

}  // namespace learnwire::store::sqlite
