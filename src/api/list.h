// The one list mechanism (API.md "Lists"): parses limit/cursor/count/updated_since/
// include_deleted plus a resource's own filters, refuses anything else (400), and renders
// {count, next, previous, results} with signed opaque cursors.
#pragma once

#include <boost/json/array.hpp>

#include <map>
#include <optional>
#include <set>
#include <string>

#include "api/context.h"
#include "domain/common.h"

namespace learnwire::api {

struct ListParams {
  int limit = 50;
  std::optional<domain::ListCursor> cursor;
  bool exact_count = false;
  std::optional<int64_t> updated_since;
  bool include_deleted = false;
  std::map<std::string, std::string> filters;  // the resource's own, by name
};

// Fails with a 400-mapped Status naming the bad parameter. `filters` are the names this list
// accepts besides the common ones; `with_time_params` adds updated_since and include_deleted.
core::Result<ListParams> ParseListParams(const RequestContext& ctx,
                                         const std::set<std::string>& filters,
                                         bool with_time_params = true);

// Renders a page. `results` already holds the page's items in order; the cursors are made
// from `first`/`last` sort keys.
http::Response RenderList(const RequestContext& ctx, const ListParams& params,
                          const domain::ListPage& page, boost::json::array results,
                          const domain::ListCursor& first, const domain::ListCursor& last);

// The link to another page: this path with the same query, the cursor replaced.
std::string PageLink(const RequestContext& ctx, const std::string& cursor);

std::string EncodeCursor(const std::string& key, const domain::ListCursor& c, bool by_updated);
std::optional<domain::ListCursor> DecodeCursor(const std::string& key, const std::string& text,
                                               bool by_updated);

}  // namespace learnwire::api
