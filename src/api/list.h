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
  domain::ListOrder order = domain::ListOrder::kById;  // kByUpdated when updated_since is given
  int limit = 50;
  std::optional<domain::ListCursor> cursor;
  bool exact_count = false;
  std::optional<int64_t> updated_since;
  bool include_deleted = false;
  std::map<std::string, std::string> filters;  // the resource's own, by name
};

// Fails with a 400-mapped Status naming the bad parameter. `filters` are the names this list
// accepts besides the common ones; `with_time_params` adds updated_since and include_deleted.
// A cursor is accepted only for the list (path and organization) and order it was issued for.
core::Result<ListParams> ParseListParams(const RequestContext& ctx,
                                         const std::set<std::string>& filters,
                                         bool with_time_params = true,
                                         domain::ListOrder order = domain::ListOrder::kById);

// Renders a page: {count, next, previous, results} with cursors at its first and last items.
http::Response RenderList(const RequestContext& ctx, const ListParams& params,
                          const domain::ListPage& page);

// The link to another page: this path with the same query, the cursor replaced.
std::string PageLink(const RequestContext& ctx, const std::string& cursor);

// Cursors are signed (HMAC-SHA256 with the installation's key) over their position, their order
// and `scope` (the list's path and organization), so no other list accepts them.
std::string EncodeCursor(const std::string& key, const std::string& scope,
                         const domain::ListCursor& c, domain::ListOrder order);
std::optional<domain::ListCursor> DecodeCursor(const std::string& key, const std::string& scope,
                                               const std::string& text, domain::ListOrder order);

}  // namespace learnwire::api
