// The Tx of both backends (internal to store/): a thin view of the connection that runs the
// transaction, plus the functions to run once it has committed.
#pragma once

#include <functional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "store/store.h"

namespace learnwire::store {

template <typename Connection>
class ConnectionTx final : public Tx {
 public:
  ConnectionTx(Connection& connection, std::string_view dialect)
      : connection_(connection), dialect_(dialect) {}
  core::Result<Rows> Query(std::string_view sql, const Params& params) override {
    return connection_.Query(sql, params);
  }
  core::Result<int64_t> Exec(std::string_view sql, const Params& params) override {
    return connection_.Exec(sql, params);
  }
  core::Status QueryEach(std::string_view sql, const Params& params,
                         const RowVisitor& visit) override {
    return connection_.QueryEach(sql, params, visit);
  }
  void AfterCommit(std::function<void()> fn) override { after_commit_.push_back(std::move(fn)); }
  std::string_view Dialect() const override { return dialect_; }
  core::Status Notify(std::string_view channel) override {
    if (dialect_ != "postgres") {
      return core::Status::Ok();
    }
    for (const std::string& done : notified_) {
      if (done == channel) {
        return core::Status::Ok();
      }
    }
    notified_.emplace_back(channel);
    // pg_notify() rather than NOTIFY: a function call can be a prepared statement.
    return connection_.Exec("SELECT pg_notify($1, '')", {std::string(channel)}).status();
  }

  // Runs the AfterCommit functions; call once the transaction has committed.
  void Committed() {
    for (const auto& fn : after_commit_) {
      fn();
    }
  }

 private:
  Connection& connection_;
  std::string_view dialect_;
  std::vector<std::function<void()>> after_commit_;
  std::vector<std::string> notified_;
};

}  // namespace learnwire::store
