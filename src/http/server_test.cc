// Starts a real Server on port 0 and speaks raw HTTP/1.1 to it over POSIX sockets.
#include "http/server.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <boost/json.hpp>
#include <future>
#include <latch>
#include <map>
#include <optional>
#include <stdexcept>

#include "core/ids.h"
#include "http/problem.h"

namespace learnwire::http {
namespace {

struct RawResponse {
  int status = 0;
  std::map<std::string, std::string> headers;  // lower-case names
  std::string body;
  std::string Header(const std::string& name) const {
    auto it = headers.find(name);
    return it == headers.end() ? "" : it->second;
  }
  boost::json::object Json() const { return boost::json::parse(body).as_object(); }
};

class Client {
 public:
  explicit Client(uint16_t port) {
    fd_ = socket(AF_INET, SOCK_STREAM, 0);
    timeval tv{10, 0};  // a broken server fails the test instead of hanging it
    setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(port);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    connected_ = connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
  }
  ~Client() { close(fd_); }

  bool connected() const { return connected_; }

  bool Send(std::string_view bytes) {
    while (!bytes.empty()) {
      ssize_t n = send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL);
      if (n <= 0) {
        return false;
      }
      bytes.remove_prefix(static_cast<std::size_t>(n));
    }
    return true;
  }

  // One response framed by content-length; nullopt on EOF, timeout or garbage.
  std::optional<RawResponse> Read() {
    std::size_t end;
    while ((end = pending_.find("\r\n\r\n")) == std::string::npos) {
      if (!Fill()) {
        return std::nullopt;
      }
    }
    RawResponse r;
    std::string head = pending_.substr(0, end);
    pending_.erase(0, end + 4);
    std::size_t line_end = head.find("\r\n");
    std::string status_line = head.substr(0, line_end);
    if (status_line.size() < 12) {
      return std::nullopt;
    }
    r.status = std::stoi(status_line.substr(9, 3));
    std::size_t pos = line_end;
    while (pos != std::string::npos && pos < head.size()) {
      std::size_t next = head.find("\r\n", pos + 2);
      std::string field = head.substr(pos + 2, next == std::string::npos ? next : next - pos - 2);
      std::size_t colon = field.find(':');
      std::string name = field.substr(0, colon);
      for (char& c : name) {
        c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      }
      std::string value = field.substr(colon + 1);
      value.erase(0, value.find_first_not_of(' '));
      r.headers[name] = value;
      pos = next;
    }
    std::size_t length =
        std::stoul(r.Header("content-length").empty() ? "0" : r.Header("content-length"));
    while (pending_.size() < length) {
      if (!Fill()) {
        return std::nullopt;
      }
    }
    r.body = pending_.substr(0, length);
    pending_.erase(0, length);
    return r;
  }

  // True when the server closed the connection with nothing more to read.
  bool ReadEof() {
    while (pending_.empty()) {
      char c;
      ssize_t n = recv(fd_, &c, 1, 0);
      if (n == 0 || (n < 0 && errno == ECONNRESET)) {
        return true;
      }
      if (n < 0) {
        return false;  // timeout
      }
      pending_ += c;
    }
    return false;
  }

 private:
  bool Fill() {
    char buf[4096];
    ssize_t n = recv(fd_, buf, sizeof buf, 0);
    if (n <= 0) {
      return false;
    }
    pending_.append(buf, static_cast<std::size_t>(n));
    return true;
  }

  int fd_ = -1;
  bool connected_ = false;
  std::string pending_;
};

// Answers with a JSON echo of what the server made of the request.
Response Echo(Request& r) {
  boost::json::object o;
  o["method"] = r.method;
  o["target"] = r.target;
  o["path"] = r.path;
  boost::json::array query;
  for (const auto& [k, v] : r.query) {
    query.push_back(boost::json::array{boost::json::string(k), boost::json::string(v)});
  }
  o["query"] = std::move(query);
  boost::json::object headers;
  for (const auto& [k, v] : r.headers) {
    headers[k] = v;
  }
  o["headers"] = std::move(headers);
  o["body"] = r.body;
  o["remote_addr"] = r.remote_addr;
  o["request_id"] = r.request_id;
  return JsonResponse(200, boost::json::serialize(o));
}

class ServerTest : public ::testing::Test {
 protected:
  void StartServer(RequestHandler handler = Echo) {
    options_.port = 0;
    server_ = std::make_unique<Server>(options_, std::move(handler));
    ASSERT_TRUE(server_->Start().ok());
    ASSERT_NE(server_->port(), 0);
  }
  void TearDown() override {
    if (server_) {
      server_->Stop(std::chrono::seconds(5));
    }
  }
  std::unique_ptr<Client> Connect() {
    auto client = std::make_unique<Client>(server_->port());
    EXPECT_TRUE(client->connected());
    return client;
  }
  void ExpectProblem(const std::optional<RawResponse>& r, int status, const std::string& type) {
    ASSERT_TRUE(r.has_value());
    EXPECT_EQ(r->status, status);
    EXPECT_EQ(r->Header("content-type"), "application/problem+json");
    EXPECT_EQ(r->Json().at("type").as_string(), "https://learnwire.dev/problems/" + type);
    EXPECT_FALSE(r->Header("x-request-id").empty());
  }

  ServerOptions options_;
  std::unique_ptr<Server> server_;
};

TEST_F(ServerTest, KeepAliveServesTwoRequestsOnOneConnection) {
  StartServer();
  auto c = Connect();
  ASSERT_TRUE(c->Send("GET /one HTTP/1.1\r\nhost: x\r\n\r\n"));
  auto first = c->Read();
  ASSERT_TRUE(c->Send("POST /two HTTP/1.1\r\nhost: x\r\ncontent-length: 5\r\n\r\nhello"));
  auto second = c->Read();
  ASSERT_TRUE(first && second);
  EXPECT_EQ(first->Json().at("path").as_string(), "/one");
  EXPECT_EQ(second->Json().at("path").as_string(), "/two");
  EXPECT_EQ(second->Json().at("body").as_string(), "hello");
}

TEST_F(ServerTest, FillsRequestFields) {
  StartServer();
  auto c = Connect();
  ASSERT_TRUE(
      c->Send("GET /a%20b/c?q=jane+doe&x=%26 HTTP/1.1\r\nHost: x\r\nX-Custom: Yes\r\n\r\n"));
  auto r = c->Read();
  ASSERT_TRUE(r);
  boost::json::object o = r->Json();
  EXPECT_EQ(o.at("method").as_string(), "GET");
  EXPECT_EQ(o.at("target").as_string(), "/a%20b/c?q=jane+doe&x=%26");
  EXPECT_EQ(o.at("path").as_string(), "/a b/c");
  EXPECT_EQ(boost::json::serialize(o.at("query")), R"([["q","jane doe"],["x","&"]])");
  EXPECT_EQ(o.at("headers").at("x-custom").as_string(), "Yes");
  EXPECT_EQ(o.at("remote_addr").as_string(), "127.0.0.1");
}

TEST_F(ServerTest, ConnectionCloseIsHonoured) {
  StartServer();
  auto c = Connect();
  ASSERT_TRUE(c->Send("GET / HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n"));
  auto r = c->Read();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->Header("connection"), "close");
  EXPECT_TRUE(c->ReadEof());
}

TEST_F(ServerTest, Http10ClosesUnlessKeepAliveAsked) {
  StartServer();
  auto c = Connect();
  ASSERT_TRUE(c->Send("GET /a HTTP/1.0\r\n\r\n"));
  ASSERT_TRUE(c->Read());
  EXPECT_TRUE(c->ReadEof());

  auto k = Connect();
  ASSERT_TRUE(k->Send("GET /a HTTP/1.0\r\nconnection: keep-alive\r\n\r\n"));
  ASSERT_TRUE(k->Read());
  ASSERT_TRUE(k->Send("GET /b HTTP/1.0\r\n\r\n"));
  ASSERT_TRUE(k->Read());
}

// The server decides "too large" from content-length without reading the body, and leaves the
// answer to the handler (which checks route, authentication and scope first, as API.md orders).
Response AnswerTooLarge(Request& req) {
  if (req.body_too_large && req.body.empty()) {
    return Problem(413, "payload-too-large", "too large");
  }
  return JsonResponse(200, "{}");
}

TEST_F(ServerTest, OversizedContentLengthIs413BeforeTheBodyIsSent) {
  options_.max_body_bytes = 1024;
  StartServer(AnswerTooLarge);
  auto c = Connect();
  ASSERT_TRUE(
      c->Send("POST /x HTTP/1.1\r\nhost: x\r\nx-request-id: big-1\r\n"
              "content-length: 1000000\r\n\r\n"));
  auto r = c->Read();
  ExpectProblem(r, 413, "payload-too-large");
  EXPECT_EQ(r->Header("x-request-id"), "big-1");
  EXPECT_TRUE(c->ReadEof());
}

TEST_F(ServerTest, OversizedBodySentAnywayStillGets413) {
  options_.max_body_bytes = 1024;
  StartServer(AnswerTooLarge);
  auto c = Connect();
  ASSERT_TRUE(c->Send("POST /x HTTP/1.1\r\nhost: x\r\ncontent-length: 300000\r\n\r\n" +
                      std::string(300000, 'b')));
  ExpectProblem(c->Read(), 413, "payload-too-large");
}

TEST_F(ServerTest, TheConnectionClosesAfterAnOversizedRequestEvenIfTheHandlerSays200) {
  options_.max_body_bytes = 1024;
  StartServer();
  auto c = Connect();
  ASSERT_TRUE(c->Send("POST /x HTTP/1.1\r\nhost: x\r\ncontent-length: 5000\r\n\r\n"));
  auto r = c->Read();
  ASSERT_TRUE(r);
  EXPECT_TRUE(c->ReadEof());
}

TEST_F(ServerTest, BodyAtTheLimitIsAccepted) {
  options_.max_body_bytes = 10;
  StartServer();
  auto c = Connect();
  ASSERT_TRUE(c->Send("POST /x HTTP/1.1\r\nhost: x\r\ncontent-length: 10\r\n\r\n0123456789"));
  auto r = c->Read();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
}

TEST_F(ServerTest, OversizedChunkedBodyIs413) {
  options_.max_body_bytes = 16;
  StartServer(AnswerTooLarge);
  auto c = Connect();
  ASSERT_TRUE(
      c->Send("POST /x HTTP/1.1\r\nhost: x\r\ntransfer-encoding: chunked\r\n\r\n"
              "10\r\n0123456789abcdef\r\n10\r\n0123456789abcdef\r\n0\r\n\r\n"));
  ExpectProblem(c->Read(), 413, "payload-too-large");
}

TEST_F(ServerTest, ChunkedBodyWithinTheLimitIsAccepted) {
  StartServer();
  auto c = Connect();
  ASSERT_TRUE(
      c->Send("POST /x HTTP/1.1\r\nhost: x\r\ntransfer-encoding: chunked\r\n\r\n"
              "5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n"));
  auto r = c->Read();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->Json().at("body").as_string(), "hello world");
}

TEST_F(ServerTest, HandlerHeadersCannotForgeOrReframe) {
  StartServer([](Request&) {
    Response r = JsonResponse(200, "{}");
    r.headers.emplace_back("x-evil", "a\r\nset-cookie: stolen=1");
    r.headers.emplace_back("content-length", "999");
    r.headers.emplace_back("location", "/api/v1/learners/lrn_1");
    return r;
  });
  auto c = Connect();
  ASSERT_TRUE(c->Send("GET / HTTP/1.1\r\nhost: x\r\n\r\n"));
  auto r = c->Read();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->body, "{}");
  EXPECT_EQ(r->Header("x-evil"), "");
  EXPECT_EQ(r->Header("set-cookie"), "");
  EXPECT_EQ(r->Header("location"), "/api/v1/learners/lrn_1");
  // The connection is still in step: a second request gets its own response.
  ASSERT_TRUE(c->Send("GET / HTTP/1.1\r\nhost: x\r\n\r\n"));
  ASSERT_TRUE(c->Read());
}

TEST_F(ServerTest, LongRequestLineIs414) {
  options_.max_request_line = 1024;
  StartServer();
  auto c = Connect();
  ASSERT_TRUE(c->Send("GET /" + std::string(2000, 'a') + " HTTP/1.1\r\nhost: x\r\n\r\n"));
  ExpectProblem(c->Read(), 414, "uri-too-long");
  EXPECT_TRUE(c->ReadEof());
}

TEST_F(ServerTest, RequestLineBeyondTheParserLimitIs414) {
  StartServer();
  auto c = Connect();
  ASSERT_TRUE(c->Send("GET /" + std::string(40 * 1024, 'a') + " HTTP/1.1\r\nhost: x\r\n\r\n"));
  ExpectProblem(c->Read(), 414, "uri-too-long");
}

TEST_F(ServerTest, LargeHeadersAre431) {
  StartServer();
  auto c = Connect();
  std::string headers;
  for (int i = 0; i < 20; ++i) {
    headers += "x-h" + std::to_string(i) + ": " + std::string(1000, 'v') + "\r\n";
  }
  ASSERT_TRUE(c->Send("GET / HTTP/1.1\r\nhost: x\r\n" + headers + "\r\n"));
  ExpectProblem(c->Read(), 431, "headers-too-large");
}

TEST_F(ServerTest, HeadersBeyondTheParserLimitAre431) {
  StartServer();
  auto c = Connect();
  std::string headers;
  for (int i = 0; i < 40; ++i) {
    headers += "x-h" + std::to_string(i) + ": " + std::string(1000, 'v') + "\r\n";
  }
  ASSERT_TRUE(c->Send("GET / HTTP/1.1\r\nhost: x\r\n" + headers + "\r\n"));
  ExpectProblem(c->Read(), 431, "headers-too-large");
}

TEST_F(ServerTest, HeadersUnderTheLimitPassBeyondBeastsDefault) {
  StartServer();
  auto c = Connect();
  std::string value(12 * 1024, 'v');
  ASSERT_TRUE(c->Send("GET / HTTP/1.1\r\nhost: x\r\nx-big: " + value + "\r\n\r\n"));
  auto r = c->Read();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
}

TEST_F(ServerTest, GarbageIs400) {
  StartServer();
  auto c = Connect();
  ASSERT_TRUE(c->Send("\x01\x02 nonsense\r\n\r\n"));
  ExpectProblem(c->Read(), 400, "malformed");
  EXPECT_TRUE(c->ReadEof());
}

TEST_F(ServerTest, BadPercentEscapeIs400) {
  StartServer();
  auto c = Connect();
  ASSERT_TRUE(c->Send("GET /a%zz HTTP/1.1\r\nhost: x\r\n\r\n"));
  ExpectProblem(c->Read(), 400, "malformed");
}

TEST_F(ServerTest, EchoesAValidClientRequestId) {
  StartServer();
  auto c = Connect();
  ASSERT_TRUE(c->Send("GET / HTTP/1.1\r\nhost: x\r\nx-request-id: abc.DEF_1-2\r\n\r\n"));
  auto r = c->Read();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->Header("x-request-id"), "abc.DEF_1-2");
  EXPECT_EQ(r->Json().at("request_id").as_string(), "abc.DEF_1-2");
}

TEST_F(ServerTest, GeneratesARequestIdWhenTheClientsIsInvalid) {
  StartServer();
  auto c = Connect();
  ASSERT_TRUE(c->Send("GET / HTTP/1.1\r\nhost: x\r\nx-request-id: bad id!\r\n\r\n"));
  auto r = c->Read();
  ASSERT_TRUE(r);
  std::string id = r->Header("x-request-id");
  EXPECT_EQ(id.size(), 26u);
  EXPECT_TRUE(core::IsCrockford(id)) << id;
  EXPECT_EQ(r->Json().at("request_id").as_string(), id);
}

TEST_F(ServerTest, ThrowingHandlerIs500WithOnlyTheRequestId) {
  StartServer([](Request&) -> Response { throw std::runtime_error("secret database detail"); });
  auto c = Connect();
  ASSERT_TRUE(c->Send("GET / HTTP/1.1\r\nhost: x\r\nx-request-id: req-500\r\n\r\n"));
  auto r = c->Read();
  ExpectProblem(r, 500, "internal");
  EXPECT_EQ(r->Json().at("detail").as_string(), "request id: req-500");
  EXPECT_EQ(r->body.find("secret"), std::string::npos);
  // The connection survives a handler failure.
  ASSERT_TRUE(c->Send("GET / HTTP/1.1\r\nhost: x\r\n\r\n"));
  ASSERT_TRUE(c->Read());
}

TEST_F(ServerTest, BlockedHandlerDoesNotBlockIo) {
  options_.io_threads = 1;
  options_.worker_threads = 2;
  std::latch entered(1);
  std::promise<void> release;
  std::shared_future<void> released = release.get_future().share();
  StartServer([&](Request& r) {
    if (r.path == "/slow") {
      entered.count_down();
      released.wait();
    }
    return JsonResponse(200, "{}");
  });
  auto slow = Connect();
  ASSERT_TRUE(slow->Send("GET /slow HTTP/1.1\r\nhost: x\r\n\r\n"));
  entered.wait();
  auto fast = Connect();
  ASSERT_TRUE(fast->Send("GET /fast HTTP/1.1\r\nhost: x\r\n\r\n"));
  EXPECT_TRUE(fast->Read());
  release.set_value();
  EXPECT_TRUE(slow->Read());
}

TEST_F(ServerTest, StopDrainsAnInFlightRequest) {
  std::latch entered(1);
  std::promise<void> release;
  std::shared_future<void> released = release.get_future().share();
  StartServer([&](Request&) {
    entered.count_down();
    released.wait();
    return JsonResponse(200, R"({"done":true})");
  });
  auto c = Connect();
  auto idle = Connect();
  ASSERT_TRUE(c->Send("GET /slow HTTP/1.1\r\nhost: x\r\n\r\n"));
  entered.wait();
  auto stopped = std::async(std::launch::async, [&] { server_->Stop(std::chrono::seconds(10)); });
  EXPECT_TRUE(idle->ReadEof());  // idle connections are closed at once
  EXPECT_NE(stopped.wait_for(std::chrono::seconds(0)), std::future_status::ready);
  release.set_value();
  auto r = c->Read();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->body, R"({"done":true})");
  EXPECT_EQ(r->Header("connection"), "close");
  stopped.get();
  EXPECT_TRUE(c->ReadEof());
  EXPECT_FALSE(Client(server_->port()).connected());
}

TEST_F(ServerTest, IdleKeepAliveConnectionIsClosedSilently) {
  options_.read_timeout = std::chrono::seconds(1);
  StartServer();
  auto c = Connect();
  ASSERT_TRUE(c->Send("GET / HTTP/1.1\r\nhost: x\r\n\r\n"));
  ASSERT_TRUE(c->Read());
  EXPECT_TRUE(c->ReadEof());  // after the read timeout, with no response bytes
}

TEST_F(ServerTest, ExpectContinueGetsInterimResponse) {
  StartServer();
  auto c = Connect();
  ASSERT_TRUE(
      c->Send("POST /x HTTP/1.1\r\nhost: x\r\ncontent-length: 2\r\n"
              "expect: 100-continue\r\n\r\n"));
  auto interim = c->Read();
  ASSERT_TRUE(interim);
  EXPECT_EQ(interim->status, 100);
  ASSERT_TRUE(c->Send("ok"));
  auto r = c->Read();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->Json().at("body").as_string(), "ok");
}

TEST_F(ServerTest, StartFailsWhenThePortIsTaken) {
  StartServer();
  ServerOptions other;
  other.port = server_->port();
  Server second(other, Echo);
  core::Status status = second.Start();
  EXPECT_EQ(status.code(), core::Code::kUnavailable);
}

}  // namespace
}  // namespace learnwire::http
