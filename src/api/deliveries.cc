// Deliveries and their attempts (WEBHOOKS.md §4 "the audit list", §6 retry):
// /api/v1/deliveries, /api/v1/webhooks/{id}/deliveries.
#include <boost/json.hpp>

#include "api/attempts.h"
#include "api/list.h"
#include "api/resources.h"
#include "core/ids.h"
#include "core/json_text.h"
#include "core/time_format.h"

namespace learnwire::api {
namespace json = boost::json;
using core::Result;
using http::Response;

namespace {

constexpr const char* kDeliveryColumns =
    "id, webhook_id, event_id, event_type, state, attempt_count, next_attempt_at, last_status, "
    "last_error, replay_of, created_at, updated_at";

json::value OptInt(const store::RowView& r, int column) {
  return r.IsNull(column) ? json::value(nullptr) : json::value(r.Int(column));
}
json::value OptText(const store::RowView& r, int column) {
  return r.IsNull(column) ? json::value(nullptr) : json::value(r.Text(column));
}
json::value OptTime(const store::RowView& r, int column) {
  return r.IsNull(column) ? json::value(nullptr) : json::value(core::FormatTime(r.Int(column)));
}

json::object RenderDelivery(const store::RowView& r) {
  return json::object{{"id", r.Text(0)},
                      {"webhook_id", r.Text(1)},
                      {"event_id", r.Text(2)},
                      {"event_type", r.Text(3)},
                      {"state", r.Text(4)},
                      {"attempt_count", r.Int(5)},
                      {"next_attempt_at", OptTime(r, 6)},
                      {"last_status", OptInt(r, 7)},
                      {"last_error", OptText(r, 8)},
                      {"replay_of", OptText(r, 9)},
                      {"created_at", core::FormatTime(r.Int(10))},
                      {"updated_at", core::FormatTime(r.Int(11))}};
}

json::value ParsedOr(std::string_view text, json::value fallback) {
  boost::system::error_code ec;
  json::value v = json::parse(text, ec);
  return ec ? fallback : v;
}

constexpr const char* kAttemptColumns =
    "number, started_at, duration_ms, status, error, response_excerpt, response_headers, "
    "request_headers";

json::object RenderAttempt(const store::RowView& r) {
  return json::object{{"number", r.Int(0)},
                      {"started_at", core::FormatTime(r.Int(1))},
                      {"duration_ms", r.Int(2)},
                      {"status", OptInt(r, 3)},
                      {"error", OptText(r, 4)},
                      {"response_excerpt", r.Text(5)},
                      {"response_headers", ParsedOr(r.Text(6), json::object())},
                      {"request_headers", ParsedOr(r.Text(7), json::object())}};
}

core::Status CheckState(const std::string& state) {
  if (state != "scheduled" && state != "succeeded" && state != "failed" && state != "canceled") {
    return core::InvalidArgument(
        "query parameter state: must be scheduled, succeeded, failed or canceled");
  }
  return core::Status::Ok();
}

// A newest-first page of deliveries matching `where` (organization scope first).
Response ListDeliveries(RequestContext& ctx, const ListParams& params, std::string where,
                        store::Params where_params) {
  domain::ListQuery q;
  q.table = "deliveries";
  q.columns = kDeliveryColumns;
  q.where = std::move(where);
  q.params = std::move(where_params);
  q.soft_delete = false;  // deliveries are never deleted, only purged: no tombstones
  // Newest first, except for a sync by updated_since, which reads (updated_at, id) ascending.
  q.order = params.order;
  q.newest_first = !params.updated_since;
  if (params.updated_since) {
    q.params.push_back(*params.updated_since);
    q.where += " AND updated_at >= $" + std::to_string(q.params.size());
  }
  q.limit = params.limit;
  q.cursor = params.cursor;
  q.exact_count = params.exact_count;
  return ctx.Query([&](store::Tx& tx) -> Result<Response> {
    LW_ASSIGN_OR_RETURN(
        domain::ListPage page, domain::RunList(tx, q, [](const store::RowView& row) {
          return domain::RenderedItem{json::serialize(RenderDelivery(row)),
                                      {true, row.Int(11), std::string(row.Text(0))}};
        }));
    return RenderList(ctx, params, page);
  });
}

Response ListAll(RequestContext& ctx) {
  auto params = ParseListParams(ctx, {"webhook_id", "event_id", "state"});
  if (!params.ok()) {
    return ctx.Fail(params.status());
  }
  std::string where = "organization_id = $1";
  store::Params p = {ctx.org()};
  for (const char* k : {"webhook_id", "event_id", "state"}) {
    auto it = params->filters.find(k);
    if (it == params->filters.end()) {
      continue;
    }
    if (std::string(k) == "state") {
      if (auto s = CheckState(it->second); !s.ok()) {
        return ctx.Fail(s);
      }
    }
    p.push_back(it->second);
    where += std::string(" AND ") + k + " = $" + std::to_string(p.size());
  }
  return ListDeliveries(ctx, *params, where, p);
}

Response ListForWebhook(RequestContext& ctx) {
  const std::string& id = ctx.req.params.at("id");
  auto params = ParseListParams(ctx, {"state", "event_type", "since", "until"});
  if (!params.ok()) {
    return ctx.Fail(params.status());
  }
  std::string where = "organization_id = $1 AND webhook_id = $2";
  store::Params p = {ctx.org(), id};
  for (const char* k : {"state", "event_type"}) {
    if (auto it = params->filters.find(k); it != params->filters.end()) {
      if (std::string(k) == "state") {
        if (auto s = CheckState(it->second); !s.ok()) {
          return ctx.Fail(s);
        }
      }
      p.push_back(it->second);
      where += std::string(" AND ") + k + " = $" + std::to_string(p.size());
    }
  }
  for (const char* k : {"since", "until"}) {
    if (auto it = params->filters.find(k); it != params->filters.end()) {
      std::optional<int64_t> t = core::ParseTime(it->second);
      if (!t) {
        return ctx.Fail(core::InvalidArgument(std::string("query parameter ") + k +
                                              ": must be an RFC 3339 time"));
      }
      p.push_back(*t);
      where += std::string(" AND created_at ") + (std::string(k) == "since" ? ">=" : "<=") + " $" +
               std::to_string(p.size());
    }
  }
  // The subscription must exist (deleted ones' deliveries stay readable through /deliveries).
  core::Status exists = ctx.services.store->Read([&](store::Tx& tx) -> core::Status {
    LW_ASSIGN_OR_RETURN(store::Rows rows,
                        tx.Query("SELECT 1 AS found FROM webhooks WHERE organization_id = $1 AND "
                                 "id = $2 AND deleted_at IS NULL",
                                 {ctx.org(), id}));
    return rows.empty() ? core::NotFound("webhook not found") : core::Status::Ok();
  });
  if (!exists.ok()) {
    return ctx.Fail(exists);
  }
  return ListDeliveries(ctx, *params, where, p);
}

Result<json::object> LoadDelivery(store::Tx& tx, const std::string& organization_id,
                                  const std::string& id) {
  std::optional<json::object> out;
  LW_RETURN_IF_ERROR(tx.QueryEach(std::string("SELECT ") + kDeliveryColumns +
                                      " FROM deliveries WHERE organization_id = $1 AND id = $2",
                                  {organization_id, id}, [&](const store::RowView& row) {
                                    out = RenderDelivery(row);
                                    return core::Status::Ok();
                                  }));
  if (!out) {
    return core::NotFound("delivery not found");
  }
  LW_ASSIGN_OR_RETURN(store::Rows event,
                      tx.Query("SELECT payload FROM events WHERE organization_id = $1 AND id = $2",
                               {organization_id, std::string((*out)["event_id"].get_string())}));
  (*out)["event"] = event.empty() ? json::value(nullptr) : ParsedOr(event[0].Str("payload"), {});
  json::array attempts;
  LW_RETURN_IF_ERROR(tx.QueryEach(std::string("SELECT ") + kAttemptColumns +
                                      " FROM attempts WHERE delivery_id = $1 ORDER BY number",
                                  {id}, [&](const store::RowView& row) {
                                    attempts.push_back(RenderAttempt(row));
                                    return core::Status::Ok();
                                  }));
  (*out)["attempts"] = std::move(attempts);
  return std::move(*out);
}

Response GetOne(RequestContext& ctx) {
  const std::string& id = ctx.req.params.at("id");
  if (!core::IsValidId(id, "dlv")) {
    return ctx.Fail(core::NotFound("delivery not found"));
  }
  return ctx.Query([&](store::Tx& tx) -> Result<Response> {
    LW_ASSIGN_OR_RETURN(json::object d, LoadDelivery(tx, ctx.org(), id));
    return Json(200, d);
  });
}

Response Retry(RequestContext& ctx) {
  const std::string& id = ctx.req.params.at("id");
  auto body = BodyObject(ctx);
  if (!body.ok()) {
    return ctx.Fail(body.status());
  }
  if (auto s = OnlyFields(**body, {}, "retry"); !s.ok()) {
    return ctx.Fail(s);
  }
  if (!core::IsValidId(id, "dlv")) {
    return ctx.Fail(core::NotFound("delivery not found"));
  }
  AttemptSlot slot(ctx);
  if (!slot.ok()) {
    return slot.Refused();
  }
  Result<delivery::AttemptSummary> attempt = AwaitAttempt(ctx, id, delivery::AttemptKind::kRetry);
  if (!attempt.ok()) {
    return ctx.Fail(attempt.status());
  }
  return ctx.Query([&](store::Tx& tx) -> Result<Response> {
    std::optional<json::object> out;
    LW_RETURN_IF_ERROR(tx.QueryEach(std::string("SELECT ") + kAttemptColumns +
                                        " FROM attempts WHERE delivery_id = $1 AND number = $2",
                                    {id, attempt->number}, [&](const store::RowView& row) {
                                      out = RenderAttempt(row);
                                      return core::Status::Ok();
                                    }));
    if (!out) {
      return core::Conflict("the attempt was not recorded: another claim took the delivery");
    }
    (*out)["delivery_id"] = id;
    (*out)["delivery_state"] = attempt->state;
    return Json(200, *out);
  });
}

}  // namespace

void RegisterDeliveries(http::Router& router, const Services& services) {
  Route(router, services, "GET", "/api/v1/deliveries", Access::kWebhooks, ListAll);
  Route(router, services, "GET", "/api/v1/deliveries/{id}", Access::kWebhooks, GetOne);
  Route(router, services, "POST", "/api/v1/deliveries/{id}/retry", Access::kWebhooks, Retry);
  Route(router, services, "GET", "/api/v1/webhooks/{id}/deliveries", Access::kWebhooks,
        ListForWebhook);
}

}  // namespace learnwire::api
