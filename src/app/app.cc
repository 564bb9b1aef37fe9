#include "app/app.h"

#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <set>

#include "api/attempts.h"
#include "api/context.h"
#include "api/key_cache.h"
#include "api/resources.h"
#include "app/assets.h"
#include "app/delivery_metrics.h"
#include "app/demo.h"
#include "core/log.h"
#include "core/net.h"
#include "core/random.h"
#include "delivery/dispatcher.h"
#include "delivery/webhooks.h"
#include "events/fanout.h"
#include "http/client_address.h"
#include "http/problem.h"
#include "http/server.h"

namespace learnwire::app {
namespace {

// At most this many /test or /retry attempts run at once per organization (WEBHOOKS.md §6),
// and in all. Each waits on an HTTP worker, so the pool has that many workers more than the
// API's own.
constexpr int kOnDemandAttemptsPerOrg = 4;
constexpr int kOnDemandAttemptsTotal = 16;
constexpr int kApiWorkers = 4;

// Names this process in leases: host and pid.
std::string WorkerId() {
  char host[256] = {0};
  if (gethostname(host, sizeof(host) - 1) != 0) {
    host[0] = '\0';
  }
  return std::string(host) + ":" + std::to_string(getpid());
}

// Jitter needs no secrecy, only independence between processes.
uint64_t RandomSeed() {
  std::string bytes = core::RandomBytes(sizeof(uint64_t));
  uint64_t seed = 0;
  for (unsigned char b : bytes) {
    seed = (seed << 8) | b;
  }
  return seed;
}

using core::Result;
using core::Status;

// The per-installation key that signs list cursors, made once and kept in the store.
Result<std::string> CursorKey(store::Store& s) {
  std::string key;
  Status st = s.Write([&](store::Tx& tx) -> Status {
    LW_RETURN_IF_ERROR(tx.Exec("INSERT INTO settings (name, value) VALUES ('cursor_key', $1) "
                               "ON CONFLICT (name) DO NOTHING",
                               {core::RandomBase62(43)})
                           .status());
    LW_ASSIGN_OR_RETURN(store::Rows rows,
                        tx.Query("SELECT value FROM settings WHERE name = 'cursor_key'"));
    key = rows[0].Str("value");
    return Status::Ok();
  });
  if (!st.ok()) {
    return st;
  }
  return key;
}

// Routes every request: 404/405 for unknown routes, then the route's pipeline; metrics for all.
http::RequestHandler RootHandler(const http::Router& router, http::Metrics& metrics,
                                 const std::vector<core::Cidr>& trusted_proxies) {
  return [&router, &metrics, &trusted_proxies](http::Request& req) {
    auto start = std::chrono::steady_clock::now();
    req.client_addr = http::ClientAddress(req, trusted_proxies);
    http::Router::Match m = router.Find(req.method, req.path);
    http::Response resp;
    std::string route = "unmatched";
    if (m.kind == http::Router::Match::Kind::kNotFound) {
      resp = http::Problem(404, "not-found", "no such endpoint");
    } else if (m.kind == http::Router::Match::Kind::kMethodNotAllowed) {
      resp = http::Problem(405, "method-not-allowed", req.method + " is not allowed here");
      resp.SetHeader("allow", m.allow);
    } else {
      // Route templates label the metrics: "/api/v1/learners/:id" (bounded cardinality).
      route.clear();
      for (char c : m.route) {
        if (c == '{') {
          route.push_back(':');
        } else if (c != '}') {
          route.push_back(c);
        }
      }
      req.params = std::move(m.params);
      resp = (*m.handler)(req);
    }
    double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    // Methods label the metrics only from the standard set: a client inventing methods must not
    // grow the registry.
    static const std::set<std::string> kMethods = {"GET",   "HEAD",   "POST",   "PUT",
                                                   "PATCH", "DELETE", "OPTIONS"};
    metrics.ObserveRequest(route, kMethods.count(req.method) ? req.method : "other", resp.status,
                           secs);
    return resp;
  };
}

}  // namespace

std::string_view OpenApiDocument() { return EmbeddedAsset("openapi.json").value_or("{}"); }

void BlockStopSignals() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
}

int WaitForStopSignal() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  int sig = 0;
  sigwait(&set, &sig);
  return sig;
}

Result<std::unique_ptr<store::Store>> OpenStore(const Config& config) {
  LW_ASSIGN_OR_RETURN(DbUrl url, ParseDbUrl(config.db));
  if (url.kind == DbUrl::Kind::kPostgres) {
    store::PostgresOptions opts;
    opts.url = url.target;
    return store::OpenMigratedPostgres(opts);
  }
  store::SqliteOptions opts;
  opts.path = url.target;
  opts.synchronous_full = config.sqlite_synchronous == "full";
  return store::OpenMigratedSqlite(opts);
}

int Serve(const Config& config, bool demo, const Hooks& hooks) {
  auto db_url = ParseDbUrl(config.db);  // validated with the config
  if (config.role != "all" && db_url.ok() && db_url->kind == DbUrl::Kind::kSqlite) {
    // One dispatcher per SQLite file owns every lease (ARCHITECTURE.md): separate API and worker
    // processes need PostgreSQL to coordinate.
    core::Log(core::LogLevel::kError,
              "role: \"api\" and \"worker\" need PostgreSQL (--db postgres://…); with SQLite "
              "use --role all");
    return 2;
  }
  const bool serves_api = config.role != "worker";
  const bool delivers = config.role != "api";
  if (!config.secret_key_file.empty()) {
    // Signing secrets and webhook credentials would be stored in plaintext: refuse rather than
    // let an operator believe they are encrypted.
    core::Log(core::LogLevel::kError,
              "secret_key_file: encryption at rest is not available in "
              "this version; remove the setting to start");
    return 2;
  }
  auto opened = OpenStore(config);
  if (!opened.ok()) {
    core::Log(core::LogLevel::kError, "cannot open the store",
              {{"error", opened.status().message()}});
    return 1;
  }
  std::unique_ptr<store::Store> db = std::move(opened).value();
  core::SystemClock system_clock;
  core::Clock& clock = hooks.clock ? *hooks.clock : system_clock;
  core::IdGenerator ids(clock);
  http::Metrics metrics;
  http::RateLimiter rate_limiter(config.rate_limit_per_key, clock);
  http::FailureCounter auth_failures(clock);
  api::KeyCache key_cache(clock);
  auto cursor_key = CursorKey(*db);
  if (!cursor_key.ok()) {
    core::Log(core::LogLevel::kError, "cannot read settings",
              {{"error", cursor_key.status().message()}});
    return 1;
  }
  if (demo) {
    Status st = SeedDemo(*db, {&ids, &clock}, config);
    if (!st.ok()) {
      core::Log(core::LogLevel::kError, "cannot create demo data", {{"error", st.message()}});
      return 1;
    }
  }

  api::Services services;
  services.store = db.get();
  services.clock = &clock;
  services.ids = &ids;
  services.metrics = &metrics;
  services.rate_limiter = &rate_limiter;
  services.auth_failures = &auth_failures;
  services.key_cache = &key_cache;
  services.cursor_key = *cursor_key;
  services.retention_days = config.retention_days;
  services.openapi_json = std::string(OpenApiDocument());
  services.event_types_json =
      std::string(EmbeddedAsset("event-types.json").value_or(R"({"types": []})"));
  services.web_root = config.web_root;
  services.asset = [](std::string_view name) { return EmbeddedAsset(name); };

  // Webhooks: the URL guard's settings, the dispatcher (the only one of this database), and
  // the limit on attempts made on demand.
  delivery::GuardConfig guard;
  for (const auto& c : config.allowed_private_networks) {
    guard.allowed_private_networks.push_back(*core::ParseCidr(c));  // validated with the config
  }
  guard.allow_http = config.allow_http_webhooks;
  delivery::WebhookRules webhook_rules;
  webhook_rules.max_per_org = static_cast<int>(config.max_webhooks_per_org);
  webhook_rules.guard = guard;
  webhook_rules.resolve = delivery::SystemResolver();
  DeliveryMetrics delivery_metrics(metrics, *db, clock);
  services.refresh_metrics = [&delivery_metrics] { delivery_metrics.Refresh(); };
  delivery::DispatcherOptions dispatch;
  dispatch.observer = &delivery_metrics;
  dispatch.in_flight_per_subscription = static_cast<int>(config.in_flight_per_subscription);
  dispatch.attempt_timeout = std::chrono::seconds(config.attempt_timeout_s);
  dispatch.guard = guard;
  dispatch.user_agent = std::string("Learnwire-Webhooks/") + LEARNWIRE_VERSION;
  dispatch.worker_id = WorkerId();
  dispatch.retention_days = config.retention_days;
  dispatch.claims = delivers;
  delivery::Dispatcher dispatcher(*db, clock, ids, dispatch, delivery::SeededUniform(RandomSeed()));
  if (Status st = dispatcher.Start(); !st.ok()) {
    core::Log(core::LogLevel::kError, "cannot start webhook delivery", {{"error", st.message()}});
    return 1;
  }
  // Commits on every node wake this worker (PostgreSQL); on SQLite every writer is in this
  // process and wakes it directly. Polling every second covers a listener that is down.
  std::unique_ptr<store::Listener> listener;
  if (delivers) {
    listener =
        db->Listen(std::string(events::kDeliveriesChannel), [&dispatcher] { dispatcher.Wake(); });
  }
  if (hooks.clock_moved) {
    *hooks.clock_moved = [&dispatcher] { dispatcher.Wake(); };
  }
  // API.md: /readyz also says the dispatcher loop ran within the last 10 s (it goes round at
  // least every second).
  services.ready = [&dispatcher] { return dispatcher.LoopedWithin(std::chrono::seconds(10)); };
  api::AttemptSlots attempt_slots(kOnDemandAttemptsPerOrg, kOnDemandAttemptsTotal);
  services.webhook_rules = &webhook_rules;
  services.dispatcher = &dispatcher;
  services.delivery_listener = &dispatcher;
  services.attempt_slots = &attempt_slots;

  std::vector<core::Cidr> trusted_proxies;
  for (const auto& c : config.trusted_proxies) {
    trusted_proxies.push_back(*core::ParseCidr(c));  // validated with the config
  }
  bool separate_metrics = !config.metrics_listen.empty();
  http::Router router;
  api::RegisterOperations(router, services, !separate_metrics);
  if (serves_api) {
    api::RegisterDocs(router, services);
    api::RegisterLearners(router, services);
    api::RegisterEvents(router, services);
    api::RegisterEventTypes(router, services);
    api::RegisterApiKeys(router, services);
    api::RegisterWebhooks(router, services);
    api::RegisterDeliveries(router, services);
    api::RegisterStats(router, services);
  }
  if (hooks.extra_routes) {
    hooks.extra_routes(router);
  }

  auto addr = ParseHostPort(config.listen);
  http::ServerOptions options;
  options.host = addr->host;
  options.port = addr->port;
  options.max_body_bytes = static_cast<std::size_t>(config.max_body_bytes);
  // A worker node answers health checks and scrapes only.
  options.worker_threads = serves_api ? kApiWorkers + kOnDemandAttemptsTotal : 1;
  http::Server server(options, RootHandler(router, metrics, trusted_proxies));
  Status started = server.Start();
  if (!started.ok()) {
    core::Log(core::LogLevel::kError, "cannot listen",
              {{"listen", config.listen}, {"error", started.message()}});
    return 1;
  }
  std::string bound = addr->host + ":" + std::to_string(server.port());
  core::Log(core::LogLevel::kInfo, "listening",
            {{"listen", bound}, {"role", config.role}, {"db", RedactedDbUrl(config.db)}});

  // metrics_listen: /metrics, /healthz and /readyz on their own address (one I/O thread).
  http::Router ops_router;
  std::unique_ptr<http::Server> ops_server;
  if (separate_metrics) {
    api::RegisterOperations(ops_router, services, true);
    auto ops_addr = ParseHostPort(config.metrics_listen);
    http::ServerOptions ops_options;
    ops_options.host = ops_addr->host;
    ops_options.port = ops_addr->port;
    ops_options.io_threads = 1;
    ops_options.worker_threads = 1;
    ops_server = std::make_unique<http::Server>(ops_options,
                                                RootHandler(ops_router, metrics, trusted_proxies));
    Status ops_started = ops_server->Start();
    if (!ops_started.ok()) {
      core::Log(core::LogLevel::kError, "cannot listen",
                {{"metrics_listen", config.metrics_listen}, {"error", ops_started.message()}});
      server.Stop(std::chrono::seconds(1));
      dispatcher.Stop(std::chrono::seconds(0));
      return 1;
    }
    core::Log(core::LogLevel::kInfo, "metrics listening",
              {{"metrics_listen", ops_addr->host + ":" + std::to_string(ops_server->port())}});
  }

  const int sig = WaitForStopSignal();
  core::Log(core::LogLevel::kInfo, "stopping", {{"signal", sig == SIGTERM ? "SIGTERM" : "SIGINT"}});
  server.Stop(std::chrono::seconds(20));
  // Requests first (a /test call waits on the dispatcher), then the dispatcher: no new claims,
  // attempts in flight finish within their timeout, the rest are given back.
  listener.reset();
  dispatcher.Stop(dispatch.attempt_timeout);
  if (hooks.clock_moved) {
    *hooks.clock_moved = nullptr;
  }
  if (ops_server) {
    ops_server->Stop(std::chrono::seconds(1));
  }
  core::Log(core::LogLevel::kInfo, "stopped");
  return 0;
}

}  // namespace learnwire::app
