// The SQLite Store; internal to store/ (others call OpenSqlite from store/store.h).
#pragma once

#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <string_view>
#include <thread>
#include <vector>

#include "core/status.h"
#include "store/store.h"

namespace learnwire::store::sqlite {

class Connection;

// A Store over one SQLite file in WAL mode: one writer connection behind a mutex (writes are
// serialized; other processes writing the same file are waited for up to busy_timeout_ms) and
// a lazily filled pool of `readers` read connections, each read a deferred transaction (one
// snapshot). ":memory:" uses one connection for both, behind the writer mutex. Checkpoints run
// on a thread and connection of their own (see Checkpoints()), not in the committing writer.
// Thread-safe; must outlive every call into it.
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
  // The checkpointer thread: a PASSIVE checkpoint each time the writer's WAL has grown by
  // kCheckpointFrames since the last one was asked for.
  void Checkpoints();

  const SqliteOptions options_;
  const bool in_memory_;

  std::mutex writer_mutex_;
  std::unique_ptr<Connection> writer_;  // used only under writer_mutex_

  std::mutex readers_mutex_;
  std::condition_variable reader_released_;
  std::vector<std::unique_ptr<Connection>> idle_readers_;  // guarded by readers_mutex_
  int open_readers_ = 0;                                   // idle + lent; guarded likewise

  std::mutex checkpoint_mutex_;
  std::condition_variable checkpoint_wanted_cv_;
  bool checkpoint_wanted_ = false;  // guarded by checkpoint_mutex_
  bool stopping_ = false;           // likewise
  int frames_asked_ = 0;            // WAL frames when a checkpoint was last asked for (writer only)
  std::mutex checkpoint_running_;   // held by whichever connection checkpoints
  std::thread checkpointer_;
};

}  // namespace learnwire::store::sqlite
