// LISTEN on a dedicated connection (internal to store/; PgStore::Listen makes one): a thread
// that waits on the connection's socket and calls back for each batch of notifications, and
// once after every (re)connection. A lost connection is reopened every second until it answers.
#pragma once

#include <atomic>
#include <functional>
#include <string>
#include <thread>

#include "store/store.h"

namespace learnwire::store::postgres {

class PgListener final : public Listener {
 public:
  PgListener(std::string url, std::string channel, std::function<void()> on_notify);
  ~PgListener() override;
  PgListener(const PgListener&) = delete;
  PgListener& operator=(const PgListener&) = delete;

 private:
  void Run();
  // Sleeps up to `ms`, returning early when stopping.
  void Pause(int ms) const;

  const std::string url_;
  const std::string channel_;
  const std::function<void()> on_notify_;
  std::atomic<bool> stopping_{false};
  std::thread thread_;
};

}  // namespace learnwire::store::postgres
