#include "delivery/http_client.h"

#include <curl/curl.h>
#include <sys/socket.h>

#include <algorithm>
#include <mutex>
#include <unordered_map>

#include "core/json_text.h"

namespace learnwire::delivery {

namespace {

constexpr std::size_t kMaxResponseHeaders = 50;
constexpr std::size_t kMaxResponseHeaderBytes = 1024;

struct Transfer {
  CURL* easy = nullptr;
  curl_slist* headers = nullptr;
  std::string body;
  HttpClient::Done done;
  const GuardConfig* guard = nullptr;
  bool plain_http = false;  // http://: only to allowed networks, or with allow_http_webhooks
  std::size_t max_excerpt = 0;
  AttemptResult result;
  bool excerpt_full = false;
  std::optional<std::string> blocked;  // the guard's message, when it refused the address
  std::string excerpt;

  ~Transfer() {
    if (headers) {
      curl_slist_free_all(headers);
    }
    if (easy) {
      curl_easy_cleanup(easy);
    }
  }
};

size_t OnBody(char* data, size_t size, size_t n, void* user) {
  auto* t = static_cast<Transfer*>(user);
  const size_t len = size * n;
  const size_t room = t->max_excerpt - t->excerpt.size();
  t->excerpt.append(data, std::min(len, room));
  if (len > room) {
    t->excerpt_full = true;
    return 0;  // enough read: abort, which closes the connection
  }
  return len;
}

std::string Trim(std::string s) {
  const char* ws = " \t\r\n";
  s.erase(0, s.find_first_not_of(ws));
  s.erase(s.find_last_not_of(ws) + 1);
  return s;
}

size_t OnHeader(char* data, size_t size, size_t n, void* user) {
  auto* t = static_cast<Transfer*>(user);
  const size_t len = size * n;
  std::string line(data, len);
  if (line.rfind("HTTP/", 0) == 0) {
    // A new status line (after a 1xx): the headers that count are the final response's.
    t->result.response_headers.clear();
    t->result.retry_after.reset();
    return len;
  }
  const size_t colon = line.find(':');
  if (colon == std::string::npos) {
    return len;
  }
  std::string name = Trim(line.substr(0, colon));
  std::transform(name.begin(), name.end(), name.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  std::string value = Trim(line.substr(colon + 1));
  if (name == "retry-after") {
    t->result.retry_after = value;
  }
  if (t->result.response_headers.size() < kMaxResponseHeaders) {
    t->result.response_headers.emplace_back(
        core::ValidUtf8(name.substr(0, kMaxResponseHeaderBytes)),
        core::ValidUtf8(value.substr(0, kMaxResponseHeaderBytes)));
  }
  return len;
}

// Every connection's address passes the URL guard before connect(): this is the check that
// counts, since DNS may answer differently than at save time.
curl_socket_t OnOpenSocket(void* user, curlsocktype purpose, curl_sockaddr* address) {
  auto* t = static_cast<Transfer*>(user);
  if (purpose != CURLSOCKTYPE_IPCXN) {
    return CURL_SOCKET_BAD;
  }
  std::optional<core::IpAddress> ip = FromSockaddr(&address->addr);
  if (!ip) {
    t->blocked = "the address is neither IPv4 nor IPv6";
    return CURL_SOCKET_BAD;
  }
  if (std::optional<std::string> why = BlockedMessage(*ip, *t->guard)) {
    t->blocked = *why;
    return CURL_SOCKET_BAD;
  }
  if (t->plain_http && !PlainHttpAllowed(*ip, *t->guard)) {
    t->blocked = "plain http:// to " + ip->ToString() +
                 " is not allowed: https:// is required outside allowed_private_networks";
    return CURL_SOCKET_BAD;
  }
  return socket(address->family, address->socktype, address->protocol);
}

std::string ErrorName(CURLcode code) {
  switch (code) {
    case CURLE_OPERATION_TIMEDOUT:
      return "timeout";
    case CURLE_COULDNT_CONNECT:
      return "connection_refused";
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_RESOLVE_PROXY:
      return "dns";
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CERTPROBLEM:
    case CURLE_SSL_CIPHER:
    case CURLE_SSL_CACERT_BADFILE:
    case CURLE_SSL_ISSUER_ERROR:
    case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
    case CURLE_SSL_INVALIDCERTSTATUS:
    case CURLE_SSL_SHUTDOWN_FAILED:
    case CURLE_SSL_CRL_BADFILE:
      return "tls";
    case CURLE_SEND_ERROR:
    case CURLE_RECV_ERROR:
    case CURLE_GOT_NOTHING:
    case CURLE_PARTIAL_FILE:
      return "connection_reset";
    default:
      return "invalid_response";
  }
}

void GlobalInit() {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

}  // namespace

struct HttpClient::Impl {
  Options options;
  CURLM* multi = nullptr;
  std::unordered_map<CURL*, std::unique_ptr<Transfer>> transfers;

  void Finish(CURL* easy, CURLcode code) {
    auto it = transfers.find(easy);
    if (it == transfers.end()) {
      return;
    }
    std::unique_ptr<Transfer> t = std::move(it->second);
    transfers.erase(it);
    curl_multi_remove_handle(multi, easy);
    AttemptResult& r = t->result;
    long status = 0;
    curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &status);
    curl_off_t total_us = 0;
    curl_easy_getinfo(easy, CURLINFO_TOTAL_TIME_T, &total_us);
    r.duration_ms = static_cast<int64_t>(total_us / 1000);
    if (status >= 200) {
      // The final status line decides the outcome; what went wrong reading the body after it
      // does not (and the excerpt limit is a deliberate abort). An interim 1xx alone is not an
      // answer.
      r.status = static_cast<int>(status);
    } else if (t->blocked) {
      r.error = "blocked_by_url_guard";
      r.error_detail = *t->blocked;
    } else if (code != CURLE_OK) {
      r.error = ErrorName(code);
      r.error_detail = curl_easy_strerror(code);
    } else {
      r.error = "invalid_response";
      r.error_detail = "no status line";
    }
    r.response_excerpt = core::ValidUtf8(t->excerpt);
    AttemptResult result = std::move(r);
    HttpClient::Done done = std::move(t->done);
    t.reset();
    done(std::move(result));
  }
};

HttpClient::HttpClient(Options options) : impl_(std::make_unique<Impl>()) {
  GlobalInit();
  impl_->options = std::move(options);
  impl_->multi = curl_multi_init();
  curl_multi_setopt(impl_->multi, CURLMOPT_MAXCONNECTS, 1024L);
}

HttpClient::~HttpClient() {
  for (auto& [easy, t] : impl_->transfers) {
    curl_multi_remove_handle(impl_->multi, easy);
  }
  impl_->transfers.clear();
  curl_multi_cleanup(impl_->multi);
}

void HttpClient::Start(const AttemptRequest& request, Done done) {
  auto t = std::make_unique<Transfer>();
  t->easy = curl_easy_init();
  t->body = request.body;
  t->done = std::move(done);
  t->guard = &impl_->options.guard;
  auto parsed = ParseWebhookUrl(request.url);
  t->plain_http = !parsed.ok() || parsed->scheme == "http";
  t->max_excerpt = impl_->options.max_excerpt;
  for (const auto& [name, value] : request.headers) {
    t->headers = curl_slist_append(t->headers, (name + ": " + value).c_str());
  }
  // No "Expect: 100-continue" round trip, and no headers curl would add on its own.
  t->headers = curl_slist_append(t->headers, "Expect:");
  t->headers = curl_slist_append(t->headers, "Accept:");
  CURL* e = t->easy;
  const long timeout_ms = static_cast<long>(impl_->options.timeout.count());
  curl_easy_setopt(e, CURLOPT_URL, request.url.c_str());
  curl_easy_setopt(e, CURLOPT_POST, 1L);
  curl_easy_setopt(e, CURLOPT_POSTFIELDS, t->body.data());
  curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(t->body.size()));
  curl_easy_setopt(e, CURLOPT_HTTPHEADER, t->headers);
  curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L);
  curl_easy_setopt(e, CURLOPT_PROXY, "");  // no proxy, whatever *_proxy says
  curl_easy_setopt(e, CURLOPT_NOPROXY, "*");
  curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, timeout_ms);
  curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, timeout_ms);
  curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 1L);
  curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 2L);
  curl_easy_setopt(e, CURLOPT_TCP_KEEPALIVE, 1L);
  curl_easy_setopt(e, CURLOPT_TCP_NODELAY, 1L);
  curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, OnBody);
  curl_easy_setopt(e, CURLOPT_WRITEDATA, t.get());
  curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, OnHeader);
  curl_easy_setopt(e, CURLOPT_HEADERDATA, t.get());
  curl_easy_setopt(e, CURLOPT_OPENSOCKETFUNCTION, OnOpenSocket);
  curl_easy_setopt(e, CURLOPT_OPENSOCKETDATA, t.get());
  curl_easy_setopt(e, CURLOPT_PRIVATE, t.get());
  impl_->transfers.emplace(e, std::move(t));
  curl_multi_add_handle(impl_->multi, e);
}

void HttpClient::Poll(std::chrono::milliseconds wait) {
  int running = 0;
  curl_multi_perform(impl_->multi, &running);
  int queued = 0;
  bool finished = false;
  while (CURLMsg* msg = curl_multi_info_read(impl_->multi, &queued)) {
    if (msg->msg == CURLMSG_DONE) {
      impl_->Finish(msg->easy_handle, msg->data.result);
      finished = true;
    }
  }
  if (finished) {
    return;
  }
  curl_multi_poll(impl_->multi, nullptr, 0, static_cast<int>(wait.count()), nullptr);
  curl_multi_perform(impl_->multi, &running);
  while (CURLMsg* msg = curl_multi_info_read(impl_->multi, &queued)) {
    if (msg->msg == CURLMSG_DONE) {
      impl_->Finish(msg->easy_handle, msg->data.result);
    }
  }
}

void HttpClient::Wakeup() { curl_multi_wakeup(impl_->multi); }

std::size_t HttpClient::InFlight() const { return impl_->transfers.size(); }

}  // namespace learnwire::delivery
