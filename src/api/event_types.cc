// /api/v1/event-types: the event catalog (EVENTS.md, WEBHOOKS.md §8). The catalog is
// api/event-types.json, built into the binary; it is parsed and rendered once, at registration.
//
// Paging: the whole catalog is one page. Without `limit` every type is returned (§8: "returns every
// type"), so a client that reads the first page only still sees the complete catalog. The common
// list parameters are still honoured as API.md "Lists" defines them: `limit` (1–500) pages with
// signed cursors, `count=exact` is accepted (the count is always exact), anything else → 400.
#include <algorithm>
#include <boost/json.hpp>
#include <memory>

#include "api/list.h"
#include "api/resources.h"
#include "core/log.h"

namespace learnwire::api {
namespace json = boost::json;
using http::Response;

namespace {

// The fields of a catalog entry that the endpoint serves; `example_source` (how the example was
// made) stays in the file.
constexpr const char* kServedFields[] = {"type", "version", "description", "schema", "example"};

struct Catalog {
  std::vector<domain::RenderedItem> items;  // one per type, in the file's order
  std::string whole;                        // the body answered to a request without parameters
  std::string error;                        // set when the embedded file is unreadable
};

std::shared_ptr<const Catalog> Load(const std::string& text) {
  auto out = std::make_shared<Catalog>();
  boost::system::error_code ec;
  json::value doc = json::parse(text, ec);
  const json::array* types = nullptr;
  if (!ec && doc.is_object()) {
    if (const json::value* t = doc.get_object().if_contains("types")) {
      types = t->if_array();
    }
  }
  if (types == nullptr) {
    out->error = ec ? "event-types.json is not JSON: " + ec.message()
                    : std::string("event-types.json has no \"types\" array");
    return out;
  }
  json::array results;
  for (std::size_t i = 0; i < types->size(); ++i) {
    const json::object* entry = (*types)[i].if_object();
    const json::value* type = entry ? entry->if_contains("type") : nullptr;
    if (type == nullptr || !type->is_string()) {
      out->error = "event-types.json: entry " + std::to_string(i) + " has no type";
      return out;
    }
    json::object served;
    for (const char* k : kServedFields) {
      if (const json::value* v = entry->if_contains(k)) {
        served[k] = *v;
      }
    }
    domain::ListCursor position;
    position.number = static_cast<int64_t>(i);
    position.id = std::string(type->get_string());
    out->items.push_back({json::serialize(served), std::move(position)});
    results.push_back(std::move(served));
  }
  out->whole = json::serialize(json::object{{"count", results.size()},
                                            {"next", nullptr},
                                            {"previous", nullptr},
                                            {"results", std::move(results)}});
  return out;
}

// The index of the first item after (forward) or the end before (backward) the cursor. The cursor
// names the type it stopped at; a type no longer in the catalog falls back to its position.
std::size_t CursorIndex(const Catalog& catalog, const domain::ListCursor& c) {
  std::size_t n = catalog.items.size();
  for (std::size_t i = 0; i < n; ++i) {
    if (catalog.items[i].position.id == c.id) {
      return c.forward ? i + 1 : i;
    }
  }
  int64_t at = c.forward ? c.number + 1 : c.number;
  return static_cast<std::size_t>(std::clamp<int64_t>(at, 0, static_cast<int64_t>(n)));
}

Response List(RequestContext& ctx, const Catalog& catalog) {
  if (!catalog.error.empty()) {
    return ctx.Fail(core::Internal(catalog.error));
  }
  if (ctx.req.query.empty()) {
    return http::JsonResponse(200, catalog.whole);
  }
  auto params = ParseListParams(ctx, {}, false);
  if (!params.ok()) {
    return ctx.Fail(params.status());
  }
  std::size_t n = catalog.items.size();
  bool has_limit = std::any_of(ctx.req.query.begin(), ctx.req.query.end(),
                               [](const auto& kv) { return kv.first == "limit"; });
  std::size_t limit = has_limit ? static_cast<std::size_t>(params->limit) : n;
  std::size_t begin = 0;
  std::size_t end = std::min(n, limit);
  if (params->cursor) {
    std::size_t at = CursorIndex(catalog, *params->cursor);
    if (params->cursor->forward) {
      begin = at;
      end = std::min(n, at + limit);
    } else {
      end = at;
      begin = at > limit ? at - limit : 0;
    }
  }
  domain::ListPage page;
  page.items.assign(catalog.items.begin() + static_cast<std::ptrdiff_t>(begin),
                    catalog.items.begin() + static_cast<std::ptrdiff_t>(end));
  page.more_before = begin > 0;
  page.more_after = end < n;
  page.count = static_cast<int64_t>(n);
  return RenderList(ctx, *params, page);
}

}  // namespace

void RegisterEventTypes(http::Router& router, const Services& s) {
  std::shared_ptr<const Catalog> catalog = Load(s.event_types_json);
  if (!catalog->error.empty()) {
    core::Log(core::LogLevel::kError, "the event catalog is unreadable",
              {{"error", catalog->error}});
  }
  Route(router, s, "GET", "/api/v1/event-types", Access::kWebhooksOrRead,
        [catalog](RequestContext& ctx) { return List(ctx, *catalog); });
}

}  // namespace learnwire::api
