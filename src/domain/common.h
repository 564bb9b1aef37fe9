// What every domain write needs: the organization, who acts, ids and time, and the event
// context. Helpers shared by the resources: field checks and list queries.
#pragma once

#include <boost/json/fwd.hpp>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "core/status.h"
#include "core/text.h"
#include "domain/identity.h"
#include "events/outbox.h"
#include "store/store.h"

namespace learnwire::domain {

struct WriteContext {
  Deps deps;
  std::string organization_id;
  events::Actor actor;
  std::optional<std::string> bulk_id;  // set inside bulk calls: events carry data.bulk_id

  int64_t Now() const { return core::ToUnixMs(deps.clock->Now()); }
  events::EventContext Events() const { return {deps.ids, deps.clock, deps.listener}; }
};

using core::CheckText;
using core::CodePoints;
using core::FoldCase;
using core::HasControl;

// How a list is ordered (ascending) and paged: by id, by (updated_at, id) for `updated_since`,
// or by commit sequence (the events feed).
enum class ListOrder { kById, kByUpdated, kBySeq };

// Where a page starts: after (forward) or before (backward) this position. `number` is the
// updated_at (kByUpdated) or the sequence (kBySeq); `id` the row's id (kById, kByUpdated).
struct ListCursor {
  bool forward = true;
  int64_t number = 0;
  std::string id;
};

struct ListQuery {
  std::string table;    // e.g. "learners"
  std::string columns;  // the select list
  std::string where;    // conditions using $1…$n of params (organization scope included)
  store::Params params;
  ListOrder order = ListOrder::kById;
  bool newest_first = false;     // descending: the audit lists (pages still move "after")
  bool soft_delete = true;       // the table has deleted_at
  bool include_deleted = false;  // else `deleted_at IS NULL` is added (soft_delete tables)
  std::optional<ListCursor> cursor;
  int limit = 50;
  bool exact_count = false;
  // Set when `where` is the organization scope alone: the count comes from resource_counts.
  std::optional<std::string> counted_resource;
};

// Keeps resource_counts in step with a create (+1, +1), a soft delete (-1, 0) and so on; call it
// in the transaction that makes the change.
core::Status AdjustCount(store::Tx& tx, const std::string& organization_id,
                         const std::string& resource, int64_t live_delta, int64_t total_delta);

// One page of a list, each row rendered in place by `render` as SQLite steps (no row is copied
// out of the database first).
struct RenderedItem {
  std::string json;
  ListCursor position;
};
struct ListPage {
  std::vector<RenderedItem> items;  // in ascending order
  bool more_after = false;
  bool more_before = false;
  std::optional<int64_t> count;
};
using RowRenderer = std::function<RenderedItem(const store::RowView&)>;
core::Result<ListPage> RunList(store::Tx& tx, const ListQuery& q, const RowRenderer& render);

}  // namespace learnwire::domain
