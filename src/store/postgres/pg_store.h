// The PostgreSQL Store (libpq); internal to store/ (others call OpenPostgres from store/store.h).
// A pool of connections, each with its own prepared statements; reads run in REPEATABLE READ
// READ ONLY transactions (one snapshot), writes in READ COMMITTED. Migrations run under an
// advisory lock, so several nodes starting at once apply each migration once. Thread-safe; must
// outlive every call into it.
#pragma once

#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"
#include "store/store.h"

namespace learnwire::store::postgres {

class Connection;

class PgStore final : public Store {
 public:
  static core::Result<std::unique_ptr<Store>> Open(const PostgresOptions& options);
  ~PgStore() override;

  core::Status Read(const TxFunction& fn) override;
  core::Status Write(const TxFunction& fn) override;
  core::Status Migrate() override;
  core::Status Ready() override;
  std::string_view Dialect() const override { return "postgres"; }
  std::unique_ptr<Listener> Listen(std::string channel, std::function<void()> on_notify) override;

 private:
  explicit PgStore(PostgresOptions options);
  core::Status Run(std::string_view begin, const TxFunction& fn);
  core::Result<std::unique_ptr<Connection>> Acquire();
  void Release(std::unique_ptr<Connection> c);

  const PostgresOptions options_;
  std::mutex mu_;
  std::condition_variable released_;
  std::vector<std::unique_ptr<Connection>> idle_;  // guarded by mu_
  int open_ = 0;                                   // idle + lent; guarded by mu_
};

}  // namespace learnwire::store::postgres
