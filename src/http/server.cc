// The Beast server. Threads: `io_threads` run the io_context (accept, read, write); each session
// lives on its own strand. A fully read request is posted to the worker pool, which calls the
// handler; the response is posted back to the session's strand and written there. Nothing on an
// I/O thread ever waits for a handler.
#include "http/server.h"

#include <spdlog/spdlog.h>

#include <atomic>
#include <boost/asio/dispatch.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http.hpp>
#include <condition_variable>
#include <cstdint>
#include <limits>
#include <map>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

#include "http/problem.h"
#include "http/request_target.h"

namespace learnwire::http {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
using tcp = asio::ip::tcp;
using BeastRequest = bhttp::request<bhttp::string_body>;
using BeastResponse = bhttp::response<bhttp::string_body>;

// After an error response, the client may still be sending (a body we refused): read and drop
// for a while before closing, so that the kernel does not answer with a reset that destroys
// the response before the client reads it.
constexpr std::chrono::seconds kLingerTime{2};
constexpr std::chrono::seconds kSessionCloseWait{2};
constexpr std::chrono::milliseconds kAcceptBackoff{100};
constexpr std::string_view kContinue = "HTTP/1.1 100 Continue\r\n\r\n";

class Session;

// State shared by the acceptor and every session. Members are ordered so that the session
// registry outlives the io_context and the pool (whose queues may still hold sessions).
class ServerCore {
 public:
  ServerCore(ServerOptions options, RequestHandler handler)
      : options_(std::move(options)), handler_(std::move(handler)) {}

  const ServerOptions& options() const { return options_; }
  bool stopping() const { return stopping_.load(); }
  asio::thread_pool& pool() { return *pool_; }

  void Register(Session* s, const std::shared_ptr<Session>& p) {
    std::lock_guard<std::mutex> lock(mu_);
    sessions_[s] = p;
  }
  void Unregister(Session* s) {
    std::lock_guard<std::mutex> lock(mu_);
    sessions_.erase(s);
    cv_.notify_all();
  }
  void BeginRequest() {
    std::lock_guard<std::mutex> lock(mu_);
    ++in_flight_;
  }
  void EndRequest() {
    std::lock_guard<std::mutex> lock(mu_);
    --in_flight_;
    cv_.notify_all();
  }

  // Runs on a worker thread. Never throws.
  Response CallHandler(Request& request);

  core::Status Start();
  uint16_t port() const { return port_; }
  void Stop(std::chrono::milliseconds grace);

 private:
  void Accept();
  template <typename F>
  void ForEachSession(F f);

  const ServerOptions options_;
  const RequestHandler handler_;
  std::atomic<bool> stopping_{false};
  bool started_ = false;
  bool stopped_ = false;
  uint16_t port_ = 0;

  std::mutex mu_;
  std::condition_variable cv_;
  int in_flight_ = 0;                                    // guarded by mu_
  std::map<Session*, std::weak_ptr<Session>> sessions_;  // guarded by mu_

  asio::io_context ioc_;
  std::optional<asio::executor_work_guard<asio::io_context::executor_type>> work_;
  std::optional<tcp::acceptor> acceptor_;
  std::optional<asio::steady_timer> accept_backoff_;  // on the acceptor's strand
  std::optional<asio::thread_pool> pool_;
  std::vector<std::thread> io_threads_;
};

class Session : public std::enable_shared_from_this<Session> {
 public:
  Session(tcp::socket socket, ServerCore& core) : stream_(std::move(socket)), core_(core) {
    beast::error_code ec;
    auto endpoint = stream_.socket().remote_endpoint(ec);
    if (!ec) {
      remote_addr_ = endpoint.address().to_string();
    }
  }
  ~Session() { core_.Unregister(this); }

  void Start() {
    asio::dispatch(stream_.get_executor(), [self = shared_from_this()] { self->ReadHeader(); });
  }
  // Closes the connection if it is waiting for a new request (Stop's first step).
  void CloseIfIdle() {
    asio::post(stream_.get_executor(), [self = shared_from_this()] {
      if (self->idle_) {
        self->Close();
      }
    });
  }
  void CloseSoon() {
    asio::post(stream_.get_executor(), [self = shared_from_this()] { self->Close(); });
  }

 private:
  void ReadHeader();
  void OnHeader(beast::error_code ec);
  void ReadBody();
  void OnBody(beast::error_code ec);
  void Dispatch(bool body_too_large = false);
  void Write(Response response, bool force_close);
  void OnWrite(bool close, beast::error_code ec);
  void SendProblem(int status, const std::string& type, const std::string& detail);
  void HandleReadError(beast::error_code ec);
  void Linger();
  void Drain();
  void Close();
  bool FirstLineTooLong() const;

  beast::tcp_stream stream_;
  ServerCore& core_;
  beast::flat_buffer buffer_;
  std::optional<bhttp::request_parser<bhttp::string_body>> parser_;
  std::unique_ptr<BeastResponse> response_;
  std::string remote_addr_;
  std::string request_id_;
  unsigned version_ = 11;
  bool keep_alive_ = false;
  bool idle_ = false;       // waiting for the first byte of a request
  bool in_flight_ = false;  // counted in ServerCore::in_flight_ until its response is written
  bool closed_ = false;
  bool close_after_response_ = false;  // the body was left unread: the connection must end
  char drain_[4096];
};

void Session::ReadHeader() {
  request_id_.clear();
  close_after_response_ = false;
  version_ = 11;
  idle_ = buffer_.size() == 0;
  if (closed_ || (idle_ && core_.stopping())) {
    Close();
    return;
  }
  const ServerOptions& o = core_.options();
  parser_.emplace();
  // Beast counts the request line and the headers together; 414 and 431 are told apart below.
  std::size_t header_limit = o.max_request_line + o.max_header_bytes + 4;
  parser_->header_limit(static_cast<std::uint32_t>(
      std::min<std::size_t>(header_limit, std::numeric_limits<std::uint32_t>::max())));
  // The body limit is applied after the header (below), so that an oversized content-length is
  // answered like any other 413, with the client's request id.
  parser_->body_limit(std::numeric_limits<std::uint64_t>::max());
  stream_.expires_after(o.read_timeout);
  bhttp::async_read_header(
      stream_, buffer_, *parser_,
      [self = shared_from_this()](beast::error_code ec, std::size_t) { self->OnHeader(ec); });
}

// On header_limit the parser has consumed nothing, so the buffer still starts with the request
// line: it is the culprit when no line end appears within max_request_line bytes.
bool Session::FirstLineTooLong() const {
  auto data = buffer_.data();
  std::string_view bytes(static_cast<const char*>(data.data()), data.size());
  std::size_t end = bytes.find("\r\n");
  std::size_t length = end == std::string_view::npos ? bytes.size() : end;
  return length > core_.options().max_request_line;
}

void Session::OnHeader(beast::error_code ec) {
  idle_ = false;
  if (ec) {
    if (ec == bhttp::error::header_limit) {
      if (FirstLineTooLong()) {
        SendProblem(414, "uri-too-long", "The request line is too long.");
      } else {
        SendProblem(431, "headers-too-large", "The request headers are too large.");
      }
      return;
    }
    HandleReadError(ec);
    return;
  }
  const ServerOptions& o = core_.options();
  const BeastRequest& req = parser_->get();
  version_ = req.version() == 10 ? 10 : 11;
  std::string_view client_id = req["x-request-id"];
  request_id_ = IsValidRequestId(client_id) ? std::string(client_id) : NewRequestId();

  // "METHOD SP target SP HTTP/x.y"
  std::size_t line = req.method_string().size() + req.target().size() + 10;
  if (line > o.max_request_line) {
    SendProblem(414, "uri-too-long", "The request line is too long.");
    return;
  }
  std::size_t header_bytes = 0;
  for (const auto& field : req) {
    header_bytes += field.name_string().size() + field.value().size() + 4;  // ": " and CRLF
  }
  if (header_bytes > o.max_header_bytes) {
    SendProblem(431, "headers-too-large", "The request headers are too large.");
    return;
  }
  // From here the request counts as in flight, so Stop waits for a body still arriving.
  in_flight_ = true;
  core_.BeginRequest();
  // An oversized content-length is decided before a byte of the body is read, but answered by
  // the handler: API.md checks route, 401 and 403 before 413.
  auto length = parser_->content_length();
  if (length && *length > o.max_body_bytes) {
    Dispatch(true);
    return;
  }
  parser_->body_limit(o.max_body_bytes);  // still needed for chunked bodies
  if (parser_->is_done()) {
    OnBody({});
    return;
  }
  if (version_ == 11 && beast::iequals(req[bhttp::field::expect], "100-continue")) {
    stream_.expires_after(o.read_timeout);
    asio::async_write(stream_, asio::buffer(kContinue.data(), kContinue.size()),
                      [self = shared_from_this()](beast::error_code wec, std::size_t) {
                        if (wec) {
                          self->Close();
                          return;
                        }
                        self->ReadBody();
                      });
    return;
  }
  ReadBody();
}

void Session::ReadBody() {
  stream_.expires_after(core_.options().read_timeout);
  bhttp::async_read(
      stream_, buffer_, *parser_,
      [self = shared_from_this()](beast::error_code ec, std::size_t) { self->OnBody(ec); });
}

void Session::OnBody(beast::error_code ec) {
  if (ec) {
    HandleReadError(ec);
    return;
  }
  Dispatch();
}

void Session::HandleReadError(beast::error_code ec) {
  if (ec == bhttp::error::body_limit) {
    // A chunked body grew past the limit: like an oversized content-length, the handler answers
    // (route, 401 and 403 come first) and the connection closes after.
    Dispatch(true);
    return;
  }
  // Peer gone, timed out (also idle keep-alive) or closed by Stop: nobody to answer.
  static const auto& kHttpCategory = beast::error_code(bhttp::error::bad_method).category();
  if (ec == bhttp::error::end_of_stream || ec == bhttp::error::partial_message ||
      ec == beast::error::timeout || ec.category() != kHttpCategory) {
    Close();
    return;
  }
  SendProblem(400, "malformed", "The request is not valid HTTP/1.1.");
}

void Session::Dispatch(bool body_too_large) {
  BeastRequest beast_request = parser_->release();
  keep_alive_ = beast_request.keep_alive();
  close_after_response_ = body_too_large;

  Request request;
  auto target = DecodeTarget(beast_request.target());
  if (!target) {
    SendProblem(400, "malformed", "The request target is not a valid path and query.");
    return;
  }
  request.method = std::string(beast_request.method_string());
  request.target = std::string(beast_request.target());
  request.path = std::move(target->path);
  request.query = std::move(target->query);
  for (const auto& field : beast_request) {
    std::string name(field.name_string());
    for (char& c : name) {
      c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    }
    request.headers.emplace(std::move(name), std::string(field.value()));
  }
  if (!body_too_large) {
    request.body = std::move(beast_request.body());  // else only part of it was read: none given
  }
  request.remote_addr = remote_addr_;
  request.request_id = request_id_;
  request.body_too_large = body_too_large;

  stream_.expires_never();
  asio::post(core_.pool(), [self = shared_from_this(), request = std::move(request)]() mutable {
    Response response = self->core_.CallHandler(request);
    asio::post(self->stream_.get_executor(), [self, response = std::move(response)]() mutable {
      self->Write(std::move(response), false);
    });
  });
}

void Session::SendProblem(int status, const std::string& type, const std::string& detail) {
  if (request_id_.empty()) {
    request_id_ = NewRequestId();
  }
  Write(Problem(status, type, detail), true);
}

// Drops header lines a handler must not write: framing headers the server sets itself, and any
// CR, LF or NUL, which would let a value forge headers.
bool SafeHeader(const std::string& name, const std::string& value) {
  if (name.empty() || beast::iequals(name, "content-length") ||
      beast::iequals(name, "transfer-encoding") || beast::iequals(name, "connection")) {
    return false;
  }
  for (std::string_view s : {std::string_view(name), std::string_view(value)}) {
    if (s.find_first_of(std::string_view("\r\n\0", 3)) != std::string_view::npos) {
      return false;
    }
  }
  return true;
}

void Session::Write(Response response, bool force_close) {
  if (closed_) {
    OnWrite(true, asio::error::operation_aborted);
    return;
  }
  bool close =
      force_close || close_after_response_ || response.close || !keep_alive_ || core_.stopping();
  response.SetHeader("x-request-id", request_id_);
  int status = response.status;
  if (status < 100 || status > 599) {
    status = 500;
  }
  response_ = std::make_unique<BeastResponse>();
  response_->version(version_);
  response_->result(static_cast<unsigned>(status));
  for (const auto& [name, value] : response.headers) {
    if (SafeHeader(name, value)) {
      response_->insert(name, value);
    }
  }
  response_->keep_alive(!close);
  if (status < 200 || status == 204 || status == 304) {
    response.body.clear();  // these statuses carry no body
  }
  response_->body() = std::move(response.body);
  response_->prepare_payload();
  stream_.expires_after(core_.options().read_timeout);
  bhttp::async_write(stream_, *response_,
                     [self = shared_from_this(), close](beast::error_code ec, std::size_t) {
                       self->OnWrite(close, ec);
                     });
}

void Session::OnWrite(bool close, beast::error_code ec) {
  response_.reset();
  if (in_flight_) {
    in_flight_ = false;
    core_.EndRequest();
  }
  if (ec) {
    Close();
  } else if (close) {
    Linger();
  } else {
    ReadHeader();
  }
}

void Session::Linger() {
  beast::error_code ec;
  stream_.socket().shutdown(tcp::socket::shutdown_send, ec);
  if (ec) {
    Close();
    return;
  }
  // One deadline for the whole drain: a client that keeps sending cannot hold the connection.
  stream_.expires_after(std::min<std::chrono::seconds>(kLingerTime, core_.options().read_timeout));
  Drain();
}

void Session::Drain() {
  stream_.async_read_some(asio::buffer(drain_),
                          [self = shared_from_this()](beast::error_code ec, std::size_t) {
                            if (ec) {
                              self->Close();
                            } else {
                              self->Drain();
                            }
                          });
}

void Session::Close() {
  if (closed_) {
    return;
  }
  closed_ = true;
  if (in_flight_) {
    in_flight_ = false;
    core_.EndRequest();
  }
  beast::error_code ec;
  stream_.socket().shutdown(tcp::socket::shutdown_both, ec);
  stream_.close();
}

Response ServerCore::CallHandler(Request& request) {
  Response response;
  try {
    response = handler_(request);
  } catch (const std::exception& e) {
    spdlog::error("request {} {} {}: handler failed: {}", request.request_id, request.method,
                  request.path, e.what());
    response = Problem(500, "internal", "request id: " + request.request_id);
  } catch (...) {
    spdlog::error("request {} {} {}: handler failed with a non-standard exception",
                  request.request_id, request.method, request.path);
    response = Problem(500, "internal", "request id: " + request.request_id);
  }
  return response;
}

core::Status ServerCore::Start() {
  if (started_) {
    return core::Internal("server already started");
  }
  beast::error_code ec;
  auto address = asio::ip::make_address(options_.host, ec);
  if (ec) {
    return core::Unavailable("cannot listen on '" + options_.host + "': not an IP address");
  }
  tcp::endpoint endpoint(address, options_.port);
  auto acceptor_strand = asio::make_strand(ioc_);
  acceptor_.emplace(acceptor_strand);
  accept_backoff_.emplace(acceptor_strand);
  auto fail = [&](const char* what) {
    acceptor_.reset();
    return core::Unavailable(fmt::format("cannot listen on {}:{}: {} failed: {}", options_.host,
                                         options_.port, what, ec.message()));
  };
  acceptor_->open(endpoint.protocol(), ec);
  if (ec) {
    return fail("open");
  }
  acceptor_->set_option(asio::socket_base::reuse_address(true), ec);
  if (ec) {
    return fail("setsockopt");
  }
  acceptor_->bind(endpoint, ec);
  if (ec) {
    return fail("bind");
  }
  acceptor_->listen(asio::socket_base::max_listen_connections, ec);
  if (ec) {
    return fail("listen");
  }
  port_ = acceptor_->local_endpoint(ec).port();
  started_ = true;

  work_.emplace(ioc_.get_executor());
  pool_.emplace(static_cast<std::size_t>(std::max(1, options_.worker_threads)));
  Accept();
  for (int i = 0; i < std::max(1, options_.io_threads); ++i) {
    io_threads_.emplace_back([this] {
      while (true) {
        try {
          ioc_.run();
          return;
        } catch (const std::exception& e) {
          spdlog::error("http server: I/O thread caught: {}", e.what());
        }
      }
    });
  }
  return core::Status::Ok();
}

void ServerCore::Accept() {
  acceptor_->async_accept(asio::make_strand(ioc_), [this](beast::error_code ec, tcp::socket s) {
    if (ec == asio::error::operation_aborted || !acceptor_->is_open()) {
      return;
    }
    if (ec) {
      // Usually out of file descriptors: pause instead of spinning on the same error.
      spdlog::warn("http server: accept failed: {}", ec.message());
      accept_backoff_->expires_after(kAcceptBackoff);
      accept_backoff_->async_wait([this](beast::error_code wec) {
        if (!wec && acceptor_->is_open()) {
          Accept();
        }
      });
      return;
    }
    if (!stopping()) {
      auto session = std::make_shared<Session>(std::move(s), *this);
      Register(session.get(), session);
      session->Start();
    }
    Accept();
  });
}

template <typename F>
void ServerCore::ForEachSession(F f) {
  std::vector<std::shared_ptr<Session>> live;
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (auto& [raw, weak] : sessions_) {
      if (auto s = weak.lock()) {
        live.push_back(std::move(s));
      }
    }
  }
  for (auto& s : live) {
    f(*s);
  }
}

void ServerCore::Stop(std::chrono::milliseconds grace) {
  if (!started_ || stopped_) {
    return;
  }
  stopped_ = true;
  const auto deadline = std::chrono::steady_clock::now() + grace;
  stopping_ = true;
  asio::post(acceptor_->get_executor(), [this] {
    beast::error_code ec;
    acceptor_->close(ec);
    accept_backoff_->cancel();
  });
  // Idle connections go now; a connection with a request in flight is closed after its response
  // (which says `connection: close`, since stopping_ is set).
  ForEachSession([](Session& s) { s.CloseIfIdle(); });
  {
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait_until(lock, deadline, [this] { return in_flight_ == 0; });
  }
  ForEachSession([](Session& s) { s.CloseSoon(); });
  {
    // Sessions still referenced by a handler that outlived the grace period never go away here.
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait_for(lock, kSessionCloseWait, [this] { return sessions_.empty(); });
  }
  work_.reset();
  ioc_.stop();
  for (auto& t : io_threads_) {
    t.join();
  }
  io_threads_.clear();
  // Handler calls not yet started are dropped; running ones are waited for (they cannot be
  // interrupted) and their responses dropped with the io_context.
  pool_->stop();
  pool_->join();
}

}  // namespace

class Server::Impl : public ServerCore {
 public:
  using ServerCore::ServerCore;
};

Server::Server(ServerOptions options, RequestHandler handler)
    : impl_(std::make_unique<Impl>(std::move(options), std::move(handler))) {}

Server::~Server() { Stop(); }

core::Status Server::Start() { return impl_->Start(); }

uint16_t Server::port() const { return impl_->port(); }

void Server::Stop(std::chrono::milliseconds grace) { impl_->Stop(grace); }

}  // namespace learnwire::http
