// /api/v1/events: the events feed (WEBHOOKS.md §4), oldest first in commit order.
#include <boost/json.hpp>

#include "api/list.h"
#include "api/resources.h"
#include "core/ids.h"
#include "core/time_format.h"
#include "events/outbox.h"

namespace learnwire::api {
namespace json = boost::json;
using core::Result;
using http::Response;

namespace {

bool KnownType(const std::string& t) {
  const auto& catalog = events::Catalog();
  if (t.size() > 2 && t.ends_with(".*")) {
    std::string family = t.substr(0, t.size() - 1);
    for (const auto& c : catalog) {
      if (c.rfind(family, 0) == 0) {
        return true;
      }
    }
    return false;
  }
  return std::find(catalog.begin(), catalog.end(), t) != catalog.end();
}

Response List(RequestContext& ctx) {
  auto params =
      ParseListParams(ctx, {"type", "after", "since", "until"}, false, domain::ListOrder::kBySeq);
  if (!params.ok()) {
    return ctx.Fail(params.status());
  }
  domain::ListQuery q;
  q.table = "events";
  q.columns = events::kEventColumns;
  q.where = events::kFeedCondition;
  q.params = {ctx.org()};
  q.order = domain::ListOrder::kBySeq;
  q.soft_delete = false;
  q.limit = params->limit;
  q.cursor = params->cursor;
  q.exact_count = params->exact_count;
  auto add = [&](const std::string& clause, store::Value v) {
    q.params.push_back(std::move(v));
    q.where += " AND " + clause + " $" + std::to_string(q.params.size());
  };
  const auto& filters = params->filters;
  if (auto it = filters.find("type"); it != filters.end()) {
    const std::string& t = it->second;
    if (!KnownType(t)) {
      return ctx.Fail(core::InvalidArgument("query parameter type: unknown event type"));
    }
    if (t.ends_with(".*")) {
      add("substr(type, 1, " + std::to_string(t.size() - 1) + ") =", t.substr(0, t.size() - 1));
    } else {
      add("type =", t);
    }
  }
  for (const char* k : {"since", "until"}) {
    if (auto it = filters.find(k); it != filters.end()) {
      auto t = core::ParseTime(it->second);
      if (!t) {
        return ctx.Fail(core::InvalidArgument(std::string("query parameter ") + k +
                                              ": must be an RFC 3339 time"));
      }
      add(std::string(k) == "since" ? "created_at >=" : "created_at <", *t);
    }
  }
  std::optional<std::string> after;
  if (auto it = filters.find("after"); it != filters.end()) {
    after = it->second;
    if (!core::IsValidId(*after, "evt")) {
      return ctx.Fail(core::InvalidArgument("query parameter after: not an event id"));
    }
  }
  return ctx.Query([&](store::Tx& tx) -> Result<Response> {
    if (after) {
      auto seq = events::SeqOf(tx, ctx.org(), *after);
      if (!seq.ok()) {
        // An id from before the retention horizon names an event that was purged; any other
        // unknown id (another organization's, say) is simply not found.
        int64_t horizon = ctx.Now() - ctx.services.retention_days * 86'400'000LL;
        if (core::IdTimeMs(*after) < horizon) {
          return http::Problem(410, "events-expired",
                               "the event named by after is no longer retained");
        }
        return core::NotFound("query parameter after: no such event");
      }
      add("seq >", *seq);
    }
    // Stored envelopes are JSON text already: no parse, no serialize.
    LW_ASSIGN_OR_RETURN(
        domain::ListPage page, domain::RunList(tx, q, [](const store::RowView& row) {
          return domain::RenderedItem{std::string(row.Text(2)), {true, row.Int(0), ""}};
        }));
    return RenderList(ctx, *params, page);
  });
}

Response Get(RequestContext& ctx) {
  const std::string& id = ctx.req.params.at("id");
  if (!core::IsValidId(id, "evt")) {
    return ctx.Fail(core::NotFound("event not found"));
  }
  return ctx.Query([&](store::Tx& tx) -> Result<Response> {
    LW_ASSIGN_OR_RETURN(events::StoredEvent e, events::Get(tx, ctx.org(), id));
    return http::JsonResponse(200, e.payload);
  });
}

}  // namespace

void RegisterEvents(http::Router& router, const Services& s) {
  Route(router, s, "GET", "/api/v1/events", Access::kRead, List);
  Route(router, s, "GET", "/api/v1/events/{id}", Access::kRead, Get);
}

}  // namespace learnwire::api
