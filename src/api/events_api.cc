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
  auto params = ParseListParams(ctx, {"type", "after", "since", "until"}, false);
  if (!params.ok()) {
    return ctx.Fail(params.status());
  }
  events::EventFilter f;
  f.organization_id = ctx.org();
  f.limit = params->limit;
  const auto& filters = params->filters;
  if (auto it = filters.find("type"); it != filters.end()) {
    if (!KnownType(it->second)) {
      return ctx.Fail(core::InvalidArgument("query parameter type: unknown event type"));
    }
    f.type = it->second;
  }
  for (const char* k : {"since", "until"}) {
    if (auto it = filters.find(k); it != filters.end()) {
      auto t = core::ParseTime(it->second);
      if (!t) {
        return ctx.Fail(core::InvalidArgument(std::string("query parameter ") + k +
                                              ": must be an RFC 3339 time"));
      }
      (std::string(k) == "since" ? f.since_ms : f.until_ms) = *t;
    }
  }
  std::optional<std::string> after;
  if (auto it = filters.find("after"); it != filters.end()) {
    after = it->second;
  }
  return ctx.Query([&](store::Tx& tx) -> Result<Response> {
    if (after) {
      auto seq = core::IsValidId(*after, "evt") ? events::SeqOf(tx, ctx.org(), *after)
                                                : Result<int64_t>(core::NotFound(""));
      if (!seq.ok()) {
        // An id that is well formed but not (or no longer) stored has expired.
        if (core::IsValidId(*after, "evt")) {
          return http::Problem(410, "events-expired",
                               "the event named by after is no longer retained");
        }
        return core::Status(core::InvalidArgument("query parameter after: not an event id"));
      }
      f.after_seq = *seq;
    }
    // The cursor continues from the last sequence number seen.
    if (params->cursor) {
      int64_t from = params->cursor->updated_at;
      if (!f.after_seq || from > *f.after_seq) {
        f.after_seq = from;
      }
    }
    f.limit = params->limit + 1;
    LW_ASSIGN_OR_RETURN(auto rows, events::List(tx, f));
    bool more = rows.size() > static_cast<std::size_t>(params->limit);
    if (more) {
      rows.pop_back();
    }
    json::array results;
    for (const auto& e : rows) {
      boost::system::error_code ec;
      results.push_back(json::parse(e.payload, ec));
    }
    json::object body;
    body["count"] = nullptr;
    body["next"] = nullptr;
    body["previous"] = nullptr;
    if (more) {
      domain::ListCursor c{true, rows.back().seq, rows.back().id};
      body["next"] = PageLink(ctx, EncodeCursor(ctx.services.cursor_key, c, false));
    }
    body["results"] = std::move(results);
    return Json(200, body);
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
