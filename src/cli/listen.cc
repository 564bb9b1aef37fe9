#include "cli/listen.h"

#include <boost/json.hpp>
#include <charconv>
#include <cstdio>
#include <mutex>

#include "app/app.h"
#include "cli/verify.h"
#include "core/time_format.h"
#include "http/server.h"

namespace learnwire::cli {
namespace {

namespace json = boost::json;

// The largest body `serve` can be configured to accept (max_body_bytes), so that no real
// delivery is refused for its size.
constexpr std::size_t kMaxBodyBytes = 64 << 20;

json::value OrNull(const std::string* s) { return s ? json::value(*s) : json::value(nullptr); }

// One line describing a request: text `<time> <type> <event id> attempt=<n> ok|<reason>` ("-" for
// what the request lacks) or one compact JSON object.
std::string Describe(const http::Request& req, const Verdict& verdict, int64_t now_ms,
                     bool as_json) {
  boost::system::error_code ec;
  json::value event = json::parse(req.body, ec);
  if (ec) {
    event = nullptr;  // not JSON: shown as null
  }
  const std::string* type = FindHeader(req.headers, "x-learnwire-event");
  std::string body_type;
  if (!type && event.is_object()) {
    if (const json::value* t = event.get_object().if_contains("type"); t && t->is_string()) {
      body_type = std::string(t->get_string());
      type = &body_type;
    }
  }
  const std::string* id = FindHeader(req.headers, "webhook-id");
  const std::string* attempt = FindHeader(req.headers, "x-learnwire-attempt");
  const std::string time = core::FormatTime(now_ms);
  if (!as_json) {
    auto text = [](const std::string* s) { return s && !s->empty() ? *s : std::string("-"); };
    return time + " " + text(type) + " " + text(id) + " attempt=" + text(attempt) + " " +
           (verdict.ok() ? "ok" : verdict.reason) + "\n";
  }
  json::object o{{"time", time},
                 {"type", OrNull(type)},
                 {"event_id", OrNull(id)},
                 {"attempt", nullptr},
                 {"delivery_id", OrNull(FindHeader(req.headers, "x-learnwire-delivery"))},
                 {"ok", verdict.ok()}};
  if (attempt) {
    int64_t n = 0;
    const char* end = attempt->data() + attempt->size();
    auto parsed = std::from_chars(attempt->data(), end, n);
    if (parsed.ec == std::errc() && parsed.ptr == end) {
      o["attempt"] = n;
    }
  }
  if (!verdict.ok()) {
    o["reason"] = verdict.reason;
  }
  o["event"] = std::move(event);
  return json::serialize(o) + "\n";
}

}  // namespace

int RunListen(int port, const std::optional<std::string>& secret,
              const std::optional<std::string>& public_key, bool json, const core::Clock& clock) {
  auto key = ChooseKey(secret, public_key);
  if (!key.ok()) {
    std::fprintf(stderr, "learnwire listen: %s\n", key.status().message().c_str());
    return 2;
  }
  std::mutex out_mu;  // handler calls may run concurrently; each line is written whole
  auto handle = [&](http::Request& req) {
    const int64_t now_ms = core::ToUnixMs(clock.Now());
    Verdict verdict = req.body_too_large ? Verdict{"body-too-large", "over 64 MiB"}
                                         : Check(*key, req.headers, req.body, now_ms / 1000);
    std::string line = Describe(req, verdict, now_ms, json);
    {
      std::lock_guard lock(out_mu);
      std::fwrite(line.data(), 1, line.size(), stdout);
      std::fflush(stdout);  // a pipe is block-buffered: tests and `| jq` read it line by line
    }
    http::Response res;
    if (verdict.ok()) {
      res.status = 204;
      return res;
    }
    // The reason shows in the sender's attempt record (response excerpt).
    res.status = req.body_too_large ? 413 : 401;
    res.close = req.body_too_large;
    res.SetHeader("content-type", "text/plain");
    res.body = verdict.reason + ": " + verdict.detail + "\n";
    return res;
  };

  http::ServerOptions options;
  options.host = "127.0.0.1";
  options.port = static_cast<uint16_t>(port);
  options.io_threads = 1;
  options.worker_threads = 2;
  options.max_body_bytes = kMaxBodyBytes;
  http::Server server(options, handle);
  core::Status started = server.Start();
  if (!started.ok()) {
    std::fprintf(stderr, "learnwire listen: cannot listen on 127.0.0.1:%d: %s\n", port,
                 started.message().c_str());
    return 1;
  }
  std::fprintf(stderr, "listening on http://127.0.0.1:%u\n", static_cast<unsigned>(server.port()));
  std::fflush(stderr);

  app::WaitForStopSignal();
  server.Stop(std::chrono::seconds(2));
  return 0;
}

}  // namespace learnwire::cli
