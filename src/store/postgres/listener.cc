#include "store/postgres/listener.h"

#include <poll.h>

#include <cerrno>
#include <chrono>

#include "core/log.h"
#include "store/postgres/connection.h"

namespace learnwire::store::postgres {

namespace {

// How often the thread looks at its stop flag while waiting on the socket.
constexpr int kStopCheckMs = 200;
constexpr int kReconnectMs = 1000;

}  // namespace

PgListener::PgListener(std::string url, std::string channel, std::function<void()> on_notify)
    : url_(std::move(url)), channel_(std::move(channel)), on_notify_(std::move(on_notify)) {
  thread_ = std::thread([this] { Run(); });
}

PgListener::~PgListener() {
  stopping_ = true;
  thread_.join();
}

void PgListener::Pause(int ms) const {
  for (int waited = 0; waited < ms && !stopping_; waited += kStopCheckMs) {
    std::this_thread::sleep_for(std::chrono::milliseconds(kStopCheckMs));
  }
}

void PgListener::Run() {
  bool lost_logged = false;
  while (!stopping_) {
    auto opened = Connection::Open(url_);
    core::Status st = opened.ok() ? (*opened)->Simple("LISTEN " + channel_) : opened.status();
    if (!st.ok()) {
      if (!lost_logged) {
        core::Log(core::LogLevel::kWarn, "listen: cannot listen; polling until it can",
                  {{"channel", channel_}, {"error", st.message()}});
        lost_logged = true;
      }
      Pause(kReconnectMs);
      continue;
    }
    if (lost_logged) {
      core::Log(core::LogLevel::kInfo, "listen: listening again", {{"channel", channel_}});
      lost_logged = false;
    }
    Connection& c = **opened;
    on_notify_();  // whatever committed while nobody listened
    while (!stopping_) {
      pollfd pfd{c.Socket(), POLLIN, 0};
      const int ready = ::poll(&pfd, 1, kStopCheckMs);
      if (ready < 0 && errno != EINTR) {
        break;
      }
      if (ready <= 0) {
        continue;
      }
      core::Result<int> n = c.TakeNotifications();
      if (!n.ok()) {
        core::Log(core::LogLevel::kWarn, "listen: connection lost; polling until it is back",
                  {{"channel", channel_}, {"error", n.status().message()}});
        lost_logged = true;
        break;
      }
      if (*n > 0) {
        on_notify_();
      }
    }
  }
}

}  // namespace learnwire::store::postgres
