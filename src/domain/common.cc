#include "domain/common.h"

namespace learnwire::domain {

core::Status AdjustCount(store::Tx& tx, const std::string& organization_id,
                         const std::string& resource, int64_t live_delta, int64_t total_delta) {
  return tx
      .Exec(
          "INSERT INTO resource_counts (organization_id, resource, live, total) "
          "VALUES ($1, $2, $3, $4) ON CONFLICT (organization_id, resource) DO UPDATE SET "
          "live = resource_counts.live + excluded.live, "
          "total = resource_counts.total + excluded.total",
          {organization_id, resource, live_delta, total_delta})
      .status();
}

namespace {

constexpr int64_t kCountCap = 10000;

// The count (exact up to the cap) and the page's SQL, shared by both ways of reading a page.
struct PagePlan {
  std::optional<int64_t> count;
  std::string sql;
  store::Params params;
  bool forward = true;
};

core::Result<PagePlan> PlanPage(store::Tx& tx, const ListQuery& q) {
  std::string where = q.where;
  if (q.soft_delete && !q.include_deleted) {
    where += " AND deleted_at IS NULL";
  }
  PagePlan plan;
  plan.params = q.params;
  auto next = [&](store::Value v) {
    plan.params.push_back(std::move(v));
    return "$" + std::to_string(plan.params.size());
  };
  // Count over the filters only (not the cursor): exact up to the cap.
  int64_t n = 0;
  if (q.counted_resource) {
    LW_ASSIGN_OR_RETURN(store::Rows rows, tx.Query("SELECT live, total FROM resource_counts WHERE "
                                                   "organization_id = $1 AND resource = $2",
                                                   {q.params.at(0), *q.counted_resource}));
    n = rows.empty() ? 0 : rows[0].Int(q.include_deleted ? "total" : "live");
  } else {
    std::string sql = q.exact_count
                          ? "SELECT COUNT(*) AS n FROM " + q.table + " WHERE " + where
                          : "SELECT COUNT(*) AS n FROM (SELECT 1 FROM " + q.table + " WHERE " +
                                where + " LIMIT " + std::to_string(kCountCap + 1) + ") t";
    LW_ASSIGN_OR_RETURN(store::Rows rows, tx.Query(sql, q.params));
    n = rows[0].Int("n");
  }
  if (q.exact_count || n <= kCountCap) {
    plan.count = n;
  }
  plan.forward = !q.cursor || q.cursor->forward;
  const bool ascending = plan.forward != q.newest_first;
  std::string op = ascending ? ">" : "<";
  std::string dir = ascending ? " ASC" : " DESC";
  std::string keyset, order;
  switch (q.order) {
    case ListOrder::kById:
      if (q.cursor) {
        keyset = " AND id " + op + " " + next(q.cursor->id);
      }
      order = "id" + dir;
      break;
    case ListOrder::kByUpdated:
      if (q.cursor) {
        std::string u = next(q.cursor->number);
        std::string id = next(q.cursor->id);
        keyset = " AND (updated_at " + op + " " + u + " OR (updated_at = " + u + " AND id " + op +
                 " " + id + "))";
      }
      order = "updated_at" + dir + ", id" + dir;
      break;
    case ListOrder::kBySeq:
      if (q.cursor) {
        keyset = " AND seq " + op + " " + next(q.cursor->number);
      }
      order = "seq" + dir;
      break;
  }
  std::string limit = next(static_cast<int64_t>(q.limit + 1));
  plan.sql = "SELECT " + q.columns + " FROM " + q.table + " WHERE " + where + keyset +
             " ORDER BY " + order + " LIMIT " + limit;
  return plan;
}

// Trims the look-ahead row, puts a backward page in ascending order and sets the flags.
void Settle(std::vector<RenderedItem>& items, const ListQuery& q, bool forward, bool& more_after,
            bool& more_before) {
  bool more = items.size() > static_cast<std::size_t>(q.limit);
  if (more) {
    items.pop_back();
  }
  if (forward) {
    more_after = more;
    more_before = q.cursor.has_value();
  } else {
    std::reverse(items.begin(), items.end());
    more_before = more;
    more_after = true;
  }
}

}  // namespace

core::Result<ListPage> RunList(store::Tx& tx, const ListQuery& q, const RowRenderer& render) {
  LW_ASSIGN_OR_RETURN(PagePlan plan, PlanPage(tx, q));
  ListPage page;
  page.count = plan.count;
  page.items.reserve(static_cast<std::size_t>(q.limit) + 1);
  LW_RETURN_IF_ERROR(tx.QueryEach(plan.sql, plan.params, [&](const store::RowView& row) {
    page.items.push_back(render(row));
    return core::Status::Ok();
  }));
  Settle(page.items, q, plan.forward, page.more_after, page.more_before);
  return page;
}

}  // namespace learnwire::domain
