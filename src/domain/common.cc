#include "domain/common.h"

#include <locale.h>
#include <wctype.h>

namespace learnwire::domain {

namespace {

// Decodes one UTF-8 sequence at s[i]; returns the code point and advances i. Invalid bytes pass
// through as themselves (inputs were validated as UTF-8 by the JSON parser).
char32_t Decode(const std::string& s, std::size_t& i) {
  unsigned char c = static_cast<unsigned char>(s[i]);
  int len = c < 0x80 ? 1 : (c >> 5) == 0x6 ? 2 : (c >> 4) == 0xE ? 3 : (c >> 3) == 0x1E ? 4 : 1;
  if (len == 1 || i + len > s.size()) {
    ++i;
    return c;
  }
  char32_t cp = c & (0xFF >> (len + 1));
  for (int k = 1; k < len; ++k) {
    cp = (cp << 6) | (static_cast<unsigned char>(s[i + k]) & 0x3F);
  }
  i += len;
  return cp;
}

void Encode(char32_t cp, std::string& out) {
  if (cp < 0x80) {
    out.push_back(static_cast<char>(cp));
  } else if (cp < 0x800) {
    out.push_back(static_cast<char>(0xC0 | (cp >> 6)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else if (cp < 0x10000) {
    out.push_back(static_cast<char>(0xE0 | (cp >> 12)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else {
    out.push_back(static_cast<char>(0xF0 | (cp >> 18)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  }
}

}  // namespace

std::string FoldCase(const std::string& s) {
  static locale_t utf8 = newlocale(LC_CTYPE_MASK, "C.UTF-8", static_cast<locale_t>(0));
  std::string out;
  out.reserve(s.size());
  for (std::size_t i = 0; i < s.size();) {
    char32_t cp = Decode(s, i);
    if (cp < 0x80) {
      cp = (cp >= 'A' && cp <= 'Z') ? cp + 32 : cp;
    } else if (utf8) {
      cp = static_cast<char32_t>(towlower_l(static_cast<wint_t>(cp), utf8));
    }
    Encode(cp, out);
  }
  return out;
}

std::size_t CodePoints(const std::string& s) {
  std::size_t n = 0;
  for (unsigned char c : s) {
    if ((c & 0xC0) != 0x80) {
      ++n;
    }
  }
  return n;
}

bool HasControl(const std::string& s) {
  for (std::size_t i = 0; i < s.size(); ++i) {
    unsigned char c = static_cast<unsigned char>(s[i]);
    if (c < 0x20 || c == 0x7f) {
      return true;
    }
    // C1 controls U+0080..U+009F are C2 80..C2 9F in UTF-8.
    if (c == 0xC2 && i + 1 < s.size()) {
      unsigned char d = static_cast<unsigned char>(s[i + 1]);
      if (d >= 0x80 && d <= 0x9F) {
        return true;
      }
    }
  }
  return false;
}

std::optional<std::string> CheckText(const std::string& s, std::size_t max, bool allow_empty) {
  std::size_t n = CodePoints(s);
  if ((!allow_empty && n == 0) || n > max) {
    return "must be " + std::string(allow_empty ? "at most " : "1 to ") + std::to_string(max) +
           " characters";
  }
  if (HasControl(s)) {
    return "may not contain control characters";
  }
  return std::nullopt;
}

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
  std::string op = plan.forward ? ">" : "<";
  std::string dir = plan.forward ? " ASC" : " DESC";
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
