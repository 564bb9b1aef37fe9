// Delivery statistics (WEBHOOKS.md §6, API.md): /api/v1/webhooks/{id}/stats and
// /api/v1/stats/deliveries. Test deliveries (and their attempts) are left out of both; every
// query reads one index range per subscription, bounded by the time range (migration 7).
#include <algorithm>
#include <boost/json.hpp>
#include <map>
#include <set>

#include "api/resources.h"
#include "api/stats_math.h"
#include "core/ids.h"
#include "core/time_format.h"

namespace learnwire::api {
namespace json = boost::json;
using core::Result;
using http::Response;

namespace {

constexpr int64_t kWindowS = 86400;

json::value OptInt(std::optional<int64_t> v) { return v ? json::value(*v) : json::value(nullptr); }

json::value OptTime(std::optional<int64_t> v) {
  return v ? json::value(core::FormatTime(*v)) : json::value(nullptr);
}

// A 404 unless `id` is a live subscription of the organization.
core::Status CheckWebhook(store::Tx& tx, const std::string& organization_id, const std::string& id,
                          std::optional<int64_t>* last_attempt_at) {
  LW_ASSIGN_OR_RETURN(store::Rows rows,
                      tx.Query("SELECT last_attempt_at FROM webhooks WHERE organization_id = $1 "
                               "AND id = $2 AND deleted_at IS NULL",
                               {organization_id, id}));
  if (rows.empty()) {
    return core::NotFound("webhook not found");
  }
  if (last_attempt_at) {
    *last_attempt_at = rows[0].OptInt("last_attempt_at");
  }
  return core::Status::Ok();
}

// The window is the last 24 h of the server's clock, both ends included.
Response WebhookStats(RequestContext& ctx) {
  const std::string& id = ctx.req.params.at("id");
  if (!core::IsValidId(id, "wh")) {
    return ctx.Fail(core::NotFound("webhook not found"));
  }
  const int64_t now = ctx.Now();
  const int64_t from = now - kWindowS * 1000;
  return ctx.Query([&](store::Tx& tx) -> Result<Response> {
    std::optional<int64_t> last_attempt_at;
    LW_RETURN_IF_ERROR(CheckWebhook(tx, ctx.org(), id, &last_attempt_at));
    // The backlog as it is now: not bounded by the window (deliveries_head).
    LW_ASSIGN_OR_RETURN(store::Rows scheduled,
                        tx.Query("SELECT COUNT(*) AS n FROM deliveries WHERE webhook_id = $1 AND "
                                 "state = 'scheduled' AND test = 0",
                                 {id}));
    json::object counts{{"scheduled", scheduled.empty() ? 0 : scheduled[0].Int("n")},
                        {"succeeded", 0},
                        {"failed", 0},
                        {"canceled", 0}};
    LW_RETURN_IF_ERROR(tx.QueryEach(
        "SELECT state, COUNT(*) AS n FROM deliveries WHERE webhook_id = $1 AND test = 0 AND "
        "finished_at IS NOT NULL AND finished_at >= $2 AND finished_at <= $3 GROUP BY state",
        {id, from, now}, [&](const store::RowView& r) {
          // finished_at is set for every state but scheduled.
          if (json::value* n = counts.if_contains(r.Text(0))) {
            *n = r.Int(1);
          }
          return core::Status::Ok();
        }));
    std::vector<int64_t> durations;
    LW_RETURN_IF_ERROR(
        tx.QueryEach("SELECT duration_ms FROM attempts WHERE webhook_id = $1 AND test = 0 AND "
                     "started_at >= $2 AND started_at <= $3 AND number = 1",
                     {id, from, now}, [&](const store::RowView& r) {
                       durations.push_back(r.Int(0));
                       return core::Status::Ok();
                     }));
    std::sort(durations.begin(), durations.end());
    const int64_t succeeded = counts["succeeded"].as_int64();
    const int64_t decided = succeeded + counts["failed"].as_int64();
    return Json(
        200,
        json::object{{"window_s", kWindowS},
                     {"counts", std::move(counts)},
                     {"success_rate", decided == 0 ? json::value(nullptr)
                                                   : json::value(static_cast<double>(succeeded) /
                                                                 static_cast<double>(decided))},
                     {"latency_ms", json::object{{"p50", OptInt(Percentile(durations, 50))},
                                                 {"p95", OptInt(Percentile(durations, 95))},
                                                 {"p99", OptInt(Percentile(durations, 99))}}},
                     {"last_delivery_at", OptTime(last_attempt_at)}});
  });
}

struct Bucket {
  int64_t succeeded = 0;
  int64_t failed = 0;
  std::vector<int64_t> durations;  // of the attempts started in the bucket
};

// Query parameters as in a list: each once, no others (400 naming it).
Result<std::map<std::string, std::string>> StatsQuery(const RequestContext& ctx) {
  static const std::set<std::string> kNames = {"since", "until", "bucket_s", "webhook_id"};
  std::map<std::string, std::string> out;
  for (const auto& [k, v] : ctx.req.query) {
    if (!kNames.count(k)) {
      return core::InvalidArgument("query parameter " + k + ": is not a parameter of this path");
    }
    if (!out.emplace(k, v).second) {
      return core::InvalidArgument("query parameter " + k + ": given more than once");
    }
  }
  return out;
}

std::optional<std::string> Param(const std::map<std::string, std::string>& m, const char* k) {
  auto it = m.find(k);
  return it == m.end() ? std::nullopt : std::optional<std::string>(it->second);
}

Response DeliveryStats(RequestContext& ctx) {
  auto query = StatsQuery(ctx);
  if (!query.ok()) {
    return ctx.Fail(query.status());
  }
  auto grid = ParseBucketGrid(Param(*query, "since"), Param(*query, "until"),
                              Param(*query, "bucket_s"), ctx.Now());
  if (!grid.ok()) {
    return ctx.Fail(grid.status());
  }
  const std::optional<std::string> webhook_id = Param(*query, "webhook_id");
  if (webhook_id && !core::IsValidId(*webhook_id, "wh")) {
    return ctx.Fail(core::NotFound("webhook not found"));
  }
  return ctx.Query([&](store::Tx& tx) -> Result<Response> {
    // The organization's subscriptions (webhooks_org_all), or the one asked for; each one's rows
    // are an index range of the time range.
    std::string scope = "w.organization_id = $1";
    store::Params p = {ctx.org()};
    if (webhook_id) {
      LW_RETURN_IF_ERROR(CheckWebhook(tx, ctx.org(), *webhook_id, nullptr));
      p.push_back(*webhook_id);
      scope += " AND w.id = $2";
    }
    const std::string from = "$" + std::to_string(p.size() + 1);
    const std::string to = "$" + std::to_string(p.size() + 2);
    store::Params ranged = p;
    ranged.push_back(grid->since_ms);
    ranged.push_back(grid->until_ms);
    std::vector<Bucket> buckets(grid->Count());
    LW_RETURN_IF_ERROR(tx.QueryEach(
        "SELECT d.finished_at, d.state FROM webhooks w JOIN deliveries d ON d.webhook_id = w.id "
        "WHERE " +
            scope + " AND d.test = 0 AND d.finished_at IS NOT NULL AND d.finished_at >= " + from +
            " AND d.finished_at < " + to + " AND d.state IN ('succeeded', 'failed')",
        ranged, [&](const store::RowView& r) {
          if (auto k = grid->IndexOf(r.Int(0))) {
            ++(r.Text(1) == "succeeded" ? buckets[*k].succeeded : buckets[*k].failed);
          }
          return core::Status::Ok();
        }));
    LW_RETURN_IF_ERROR(tx.QueryEach(
        "SELECT a.started_at, a.duration_ms FROM webhooks w JOIN attempts a ON a.webhook_id = "
        "w.id WHERE " +
            scope + " AND a.test = 0 AND a.started_at >= " + from + " AND a.started_at < " + to,
        ranged, [&](const store::RowView& r) {
          if (auto k = grid->IndexOf(r.Int(0))) {
            buckets[*k].durations.push_back(r.Int(1));
          }
          return core::Status::Ok();
        }));
    // One seek per subscription (deliveries_head: seq follows creation), not a walk of the
    // backlog.
    LW_ASSIGN_OR_RETURN(
        store::Rows oldest,
        tx.Query("SELECT MIN(s.t) AS t FROM (SELECT (SELECT d.created_at FROM deliveries d "
                 "WHERE d.webhook_id = w.id AND d.state = 'scheduled' AND d.test = 0 ORDER BY "
                 "d.seq LIMIT 1) AS t FROM webhooks w WHERE " +
                     scope + ") s",
                 p));
    json::array out;
    out.reserve(buckets.size());
    for (std::size_t k = 0; k < buckets.size(); ++k) {
      Bucket& b = buckets[k];
      std::sort(b.durations.begin(), b.durations.end());
      out.push_back(json::object{{"start", core::FormatTime(grid->StartOf(k))},
                                 {"succeeded", b.succeeded},
                                 {"failed", b.failed},
                                 {"attempts", static_cast<int64_t>(b.durations.size())},
                                 {"p50_ms", OptInt(Percentile(b.durations, 50))},
                                 {"p95_ms", OptInt(Percentile(b.durations, 95))}});
    }
    return Json(200,
                json::object{{"buckets", std::move(out)},
                             {"oldest_scheduled_at",
                              OptTime(oldest.empty() ? std::nullopt : oldest[0].OptInt("t"))}});
  });
}

}  // namespace

void RegisterStats(http::Router& router, const Services& services) {
  Route(router, services, "GET", "/api/v1/webhooks/{id}/stats", Access::kWebhooks, WebhookStats);
  Route(router, services, "GET", "/api/v1/stats/deliveries", Access::kWebhooks, DeliveryStats);
}

}  // namespace learnwire::api
