// Server: a multi-threaded HTTP/1.1 server (Boost.Beast underneath, hidden here).
// I/O runs on `io_threads`; every handler call runs on a separate pool of `worker_threads`, so
// database work never blocks the I/O threads. Start/Stop from one thread; the handler is called
// concurrently and must be thread-safe.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "core/status.h"
#include "http/message.h"

namespace learnwire::http {

struct ServerOptions {
  std::string host = "127.0.0.1";
  uint16_t port = 8080;  // 0 = any free port; see Server::port()
  int io_threads = 2;
  int worker_threads = 4;
  std::size_t max_body_bytes = 1 << 20;      // larger content-length -> 413 before reading
  std::size_t max_request_line = 8 * 1024;   // -> 414
  std::size_t max_header_bytes = 16 * 1024;  // -> 431
  std::chrono::seconds read_timeout{30};     // header and body read; idle keep-alive too
};

// Called for every well-formed request (limits already enforced, request_id set).
using RequestHandler = std::function<Response(Request&)>;

class Server {
 public:
  Server(ServerOptions options, RequestHandler handler);
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // Binds and starts the threads. Fails with kUnavailable when the address cannot be bound.
  core::Status Start();
  // The bound port (after Start).
  uint16_t port() const;
  // Stops accepting, lets in-flight requests finish (up to `grace`), closes idle connections,
  // joins every thread.
  void Stop(std::chrono::milliseconds grace = std::chrono::seconds(10));

 private:
  class Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace learnwire::http
