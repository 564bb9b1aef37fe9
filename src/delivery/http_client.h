// The outbound HTTP client of the dispatcher: libcurl's multi interface on the calling thread,
// with connection reuse across attempts, no redirects, no proxies (the *_proxy variables are
// ignored), http and https only, TLS peers verified, the URL guard applied to the socket address
// actually connected to, and at most `max_excerpt` bytes of each response body read.
// Not thread-safe except Wakeup(): one thread calls Start and Poll.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "delivery/request.h"
#include "delivery/url_guard.h"

namespace learnwire::delivery {

struct AttemptResult {
  std::optional<int> status;         // the status line's code, when one was read
  std::optional<std::string> error;  // §4 names: timeout, connection_refused, connection_reset,
                                     // dns, tls, blocked_by_url_guard, invalid_response
  std::string error_detail;          // for the log; never shown to API clients
  std::string response_excerpt;      // at most max_excerpt bytes, UTF-8 with invalid bytes replaced
  HeaderList response_headers;       // the final response's, bounded
  std::optional<std::string> retry_after;
  int64_t duration_ms = 0;
};

class HttpClient {
 public:
  struct Options {
    GuardConfig guard;
    std::chrono::milliseconds timeout{30'000};
    std::size_t max_excerpt = 4096;
  };
  using Done = std::function<void(AttemptResult)>;

  explicit HttpClient(Options options);
  ~HttpClient();
  HttpClient(const HttpClient&) = delete;
  HttpClient& operator=(const HttpClient&) = delete;

  // Starts a POST; `done` runs inside a later Poll() when it ends, however it ends.
  void Start(const AttemptRequest& request, Done done);
  // Drives transfers; waits at most `wait` for activity, returning early on Wakeup().
  void Poll(std::chrono::milliseconds wait);
  // Interrupts a waiting Poll. Thread-safe.
  void Wakeup();
  std::size_t InFlight() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace learnwire::delivery
