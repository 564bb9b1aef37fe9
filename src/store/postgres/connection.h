// One libpq connection: statements run with text parameters ($1…$n, types inferred by the
// server), each distinct SQL text prepared once per connection. Results become store::Rows, or
// are visited row by row. Errors map to Status as store.h says (unique and foreign-key
// violations → kConflict; serialization failures, deadlocks and lost connections →
// kUnavailable; the rest → kInternal). Not thread-safe: one user at a time.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <string_view>

#include "core/status.h"
#include "store/store.h"

struct pg_conn;

namespace learnwire::store::postgres {

class Connection {
 public:
  static core::Result<std::unique_ptr<Connection>> Open(const std::string& url);
  ~Connection();
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  core::Result<Rows> Query(std::string_view sql, const Params& params);
  core::Result<int64_t> Exec(std::string_view sql, const Params& params);
  core::Status QueryEach(std::string_view sql, const Params& params, const RowVisitor& visit);
  // A statement without parameters, not prepared (BEGIN, COMMIT, DDL scripts).
  core::Status Simple(std::string_view sql);
  bool Healthy() const;
  // For a LISTENing connection: the socket to wait on, and how many notifications have arrived
  // since the last call (reads what the socket has; Unavailable when the connection is lost).
  int Socket() const;
  core::Result<int> TakeNotifications();

 private:
  explicit Connection(pg_conn* conn) : conn_(conn) {}
  struct Result;
  core::Result<std::unique_ptr<Result>> Run(std::string_view sql, const Params& params);

  pg_conn* conn_;
  std::map<std::string, std::string, std::less<>> prepared_;  // SQL text → statement name
};

}  // namespace learnwire::store::postgres
