#include "domain/learners.h"

#include <boost/json.hpp>
#include <cmath>
#include <map>
#include <set>

#include "core/json_text.h"
#include "core/time_format.h"

namespace learnwire::domain {
namespace json = boost::json;
using core::FieldError;
using core::Result;
using core::Status;

namespace {

constexpr const char* kColumns =
    "id, email, firstname, lastname, username, language, external_id, custom_fields, status, "
    "created_at, updated_at, deleted_at";

const std::set<std::string>& Writable() {
  static const std::set<std::string> k = {"email",    "firstname",   "lastname",     "username",
                                          "language", "external_id", "custom_fields"};
  return k;
}

// BCP 47 in its common shape: subtags of 1-8 letters or digits joined by '-', the first letters.
bool ValidLanguage(const std::string& s) {
  if (s.empty() || s.size() > 35) {
    return false;
  }
  std::size_t start = 0;
  bool first = true;
  while (start <= s.size()) {
    std::size_t dash = s.find('-', start);
    std::string sub = s.substr(start, dash == std::string::npos ? dash : dash - start);
    if (sub.empty() || sub.size() > 8) {
      return false;
    }
    for (char c : sub) {
      bool alpha = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
      bool digit = c >= '0' && c <= '9';
      if (!(alpha || (digit && !first))) {
        return false;
      }
    }
    if (first && sub.size() > 3 && sub.size() < 5) {
      return false;
    }
    first = false;
    if (dash == std::string::npos) {
      break;
    }
    start = dash + 1;
  }
  return true;
}

std::optional<std::string> CheckCustomFields(const json::value& v) {
  if (!v.is_object()) {
    return "must be an object";
  }
  const json::object& o = v.get_object();
  if (o.size() > 50) {
    return "may have at most 50 keys";
  }
  for (const auto& kv : o) {
    std::string key(kv.key());
    if (key.empty() || CodePoints(key) > 100 || HasControl(key)) {
      return "keys must be 1 to 100 characters without control characters";
    }
    const json::value& val = kv.value();
    if (val.is_string()) {
      std::string s(val.get_string());
      if (CodePoints(s) > 1000) {
        return "value of \"" + key + "\" must be at most 1000 characters";
      }
    } else if (val.is_double() && !std::isfinite(val.get_double())) {
      return "value of \"" + key + "\" is a number out of range";
    } else if (!val.is_number() && !val.is_bool()) {
      return "value of \"" + key + "\" must be a string, a number or a boolean";
    }
  }
  return std::nullopt;
}

// Read-only fields are accepted only when equal to the current value.
void CheckReadOnly(const json::object& body, const Learner* current,
                   std::vector<FieldError>& errors) {
  json::object now = current ? LearnerJson(*current) : json::object{};
  if (!current) {
    now["status"] = "active";
    now["group_ids"] = json::array();
    now["department_ids"] = json::array();
    now["deleted_at"] = nullptr;
  }
  for (const char* k :
       {"id", "status", "group_ids", "department_ids", "created_at", "updated_at", "deleted_at"}) {
    const json::value* given = body.if_contains(k);
    if (!given) {
      continue;
    }
    const json::value* have = now.if_contains(k);
    bool equal = have && *have == *given;
    // Times are equal when they name the same instant, whatever their offset or precision.
    if (!equal && have && have->is_string() && given->is_string()) {
      auto a = core::ParseTime(std::string(have->get_string()));
      auto b = core::ParseTime(std::string(given->get_string()));
      equal = a && b && *a == *b;
    }
    if (!equal) {
      errors.push_back({k, "is read-only"});
    }
  }
}

// Applies a request body onto `l` per mode; collects every field error.
Status ApplyBody(const json::object& body, WriteMode mode, Learner& l, const Learner* current) {
  std::vector<FieldError> errors;
  static const std::set<std::string> kReadOnly = {
      "id", "status", "group_ids", "department_ids", "created_at", "updated_at", "deleted_at"};
  for (const auto& kv : body) {
    std::string k(kv.key());
    if (!Writable().count(k) && !kReadOnly.count(k)) {
      errors.push_back({k, "is not a field of a learner"});
    }
  }
  CheckReadOnly(body, current, errors);
  if (mode == WriteMode::kReplace) {
    l.username.reset();
    l.language = "en";
    l.external_id.reset();
    l.custom_fields = "{}";
  }
  bool required_all = mode != WriteMode::kPatch;
  for (const char* k : {"email", "firstname", "lastname"}) {
    const json::value* v = body.if_contains(k);
    if (!v) {
      if (required_all) {
        errors.push_back({k, "is required"});
      }
      continue;
    }
    if (!v->is_string()) {
      errors.push_back({k, "must be a string"});
      continue;
    }
    std::string s(v->get_string());
    if (std::string(k) == "email") {
      if (auto why = CheckEmail(s)) {
        errors.push_back({k, *why});
        continue;
      }
      l.email = s;
    } else {
      if (auto why = CheckText(s, 200, false)) {
        errors.push_back({k, *why});
        continue;
      }
      (std::string(k) == "firstname" ? l.firstname : l.lastname) = s;
    }
  }
  for (const char* k : {"username", "external_id"}) {
    const json::value* v = body.if_contains(k);
    if (!v) {
      continue;
    }
    std::optional<std::string>& field = std::string(k) == "username" ? l.username : l.external_id;
    if (v->is_null()) {
      field.reset();
    } else if (!v->is_string()) {
      errors.push_back({k, "must be a string or null"});
    } else if (auto why = CheckText(std::string(v->get_string()), 200, false)) {
      errors.push_back({k, *why});
    } else {
      field = std::string(v->get_string());
    }
  }
  if (const json::value* v = body.if_contains("language")) {
    if (!v->is_string() || !ValidLanguage(std::string(v->get_string()))) {
      errors.push_back({"language", "must be a BCP 47 language tag such as \"en\" or \"fr-CA\""});
    } else {
      l.language = std::string(v->get_string());
    }
  }
  if (const json::value* v = body.if_contains("custom_fields")) {
    if (auto why = CheckCustomFields(*v)) {
      errors.push_back({"custom_fields", *why});
    } else {
      l.custom_fields = json::serialize(*v);
    }
  }
  if (!errors.empty()) {
    return Status::Invalid(std::move(errors));
  }
  return Status::Ok();
}

// 409 when another live learner of the organization has this email or external_id.
Status CheckUnique(store::Tx& tx, const std::string& org, const Learner& l) {
  LW_ASSIGN_OR_RETURN(store::Rows rows,
                      tx.Query("SELECT id FROM learners WHERE organization_id = $1 AND "
                               "email_lower = $2 AND deleted_at IS NULL AND id <> $3",
                               {org, FoldCase(l.email), l.id}));
  if (!rows.empty()) {
    return core::Conflict("a learner with email " + l.email + " already exists");
  }
  if (l.external_id) {
    LW_ASSIGN_OR_RETURN(rows, tx.Query("SELECT id FROM learners WHERE organization_id = $1 AND "
                                       "external_id = $2 AND deleted_at IS NULL AND id <> $3",
                                       {org, *l.external_id, l.id}));
    if (!rows.empty()) {
      return core::Conflict("a learner with external_id " + *l.external_id + " already exists");
    }
  }
  return Status::Ok();
}

Status Emit(store::Tx& tx, const WriteContext& ctx, const std::string& type, const Learner& l,
            json::object data) {
  if (ctx.bulk_id) {
    data["bulk_id"] = *ctx.bulk_id;
  }
  events::NewEvent event{ctx.organization_id, type, ctx.actor,
                         std::move(data),     l.id, events::Relations{{l.id}, {}, {}, {}, {}}};
  return events::Append(tx, ctx.Events(), std::move(event)).status();
}

// What `?q=` searches: the case-folded fields, one per line (a query never spans two).
std::string SearchText(const Learner& l) {
  return FoldCase(l.firstname + "\n" + l.lastname + "\n" + l.email + "\n" +
                  l.external_id.value_or(""));
}

Status Save(store::Tx& tx, const std::string& org, const Learner& l) {
  return tx
      .Exec(
          "UPDATE learners SET email = $1, email_lower = $2, firstname = $3, lastname = $4, "
          "username = $5, language = $6, external_id = $7, custom_fields = $8, status = $9, "
          "updated_at = $10, deleted_at = $11, search_text = $14 WHERE organization_id = $12 "
          "AND id = $13",
          {l.email, FoldCase(l.email), l.firstname, l.lastname, l.username, l.language,
           l.external_id, l.custom_fields, l.status, l.updated_at, l.deleted_at, org, l.id,
           SearchText(l)})
      .status();
}

// `for_update`: the row stays locked until the transaction ends (PostgreSQL), so a change
// computed from it cannot lose a concurrent one.
Result<Learner> Find(store::Tx& tx, const std::string& org, const std::string& id,
                     bool include_deleted, bool for_update = false) {
  LW_ASSIGN_OR_RETURN(store::Rows rows,
                      tx.Query(std::string("SELECT ") + kColumns +
                                   " FROM learners WHERE organization_id = $1 AND id = $2 AND "
                                   "erased_at IS NULL" +
                                   (include_deleted ? "" : " AND deleted_at IS NULL") +
                                   (for_update ? ForUpdate(tx) : ""),
                               {org, id}));
  if (rows.empty()) {
    return core::NotFound("learner " + id + " not found");
  }
  return LearnerFromRow(rows[0]);
}

}  // namespace

LearnerView ViewOf(const Learner& l) {
  LearnerView v;
  v.id = l.id;
  v.email = l.email;
  v.firstname = l.firstname;
  v.lastname = l.lastname;
  if (l.username) {
    v.username = *l.username;
  }
  v.language = l.language;
  if (l.external_id) {
    v.external_id = *l.external_id;
  }
  v.custom_fields = l.custom_fields;
  v.status = l.status;
  v.created_at = l.created_at;
  v.updated_at = l.updated_at;
  v.deleted_at = l.deleted_at;
  return v;
}

// Positions in kColumns.
LearnerView LearnerViewOfRow(const store::RowView& r) {
  LearnerView v;
  v.id = r.Text(0);
  v.email = r.Text(1);
  v.firstname = r.Text(2);
  v.lastname = r.Text(3);
  if (!r.IsNull(4)) {
    v.username = r.Text(4);
  }
  v.language = r.Text(5);
  if (!r.IsNull(6)) {
    v.external_id = r.Text(6);
  }
  v.custom_fields = r.Text(7);
  v.status = r.Text(8);
  v.created_at = r.Int(9);
  v.updated_at = r.Int(10);
  if (!r.IsNull(11)) {
    v.deleted_at = r.Int(11);
  }
  return v;
}

std::string RenderLearner(const LearnerView& l) {
  std::string out;
  out.reserve(400 + l.custom_fields.size());
  core::JsonObjectWriter(out)
      .String("id", l.id)
      .String("email", l.email)
      .String("firstname", l.firstname)
      .String("lastname", l.lastname)
      .OptString("username", l.username)
      .String("language", l.language)
      .OptString("external_id", l.external_id)
      .Raw("custom_fields", l.custom_fields)
      .String("status", l.status)
      .Raw("group_ids", "[]")
      .Raw("department_ids", "[]")
      .Time("created_at", l.created_at)
      .Time("updated_at", l.updated_at)
      .OptTime("deleted_at", l.deleted_at)
      .Close();
  return out;
}

json::object LearnerJson(const Learner& l) {
  boost::system::error_code ec;
  json::value v = json::parse(RenderLearner(l), ec);
  return ec || !v.is_object() ? json::object() : std::move(v.get_object());
}

std::string RenderLearnerTombstone(const LearnerView& l) {
  std::string out;
  core::JsonObjectWriter(out).String("id", l.id).OptTime("deleted_at", l.deleted_at).Close();
  return out;
}

Learner LearnerFromRow(const store::Rows::Row& r) {
  Learner l;
  l.id = r.Str("id");
  l.email = r.Str("email");
  l.firstname = r.Str("firstname");
  l.lastname = r.Str("lastname");
  l.username = r.OptStr("username");
  l.language = r.Str("language");
  l.external_id = r.OptStr("external_id");
  l.custom_fields = r.Str("custom_fields");
  l.status = r.Str("status");
  l.created_at = r.Int("created_at");
  l.updated_at = r.Int("updated_at");
  l.deleted_at = r.OptInt("deleted_at");
  return l;
}

Result<Learner> CreateLearner(store::Tx& tx, const WriteContext& ctx, const json::object& body) {
  Learner l;
  LW_RETURN_IF_ERROR(ApplyBody(body, WriteMode::kCreate, l, nullptr));
  l.id = ctx.deps.ids->New("lrn");
  l.created_at = l.updated_at = ctx.Now();
  LW_RETURN_IF_ERROR(CheckUnique(tx, ctx.organization_id, l));
  LW_RETURN_IF_ERROR(
      tx.Exec("INSERT INTO learners (id, organization_id, email, email_lower, firstname, "
              "lastname, username, language, external_id, custom_fields, status, created_at, "
              "updated_at, search_text) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, "
              "$12, $12, $13)",
              {l.id, ctx.organization_id, l.email, FoldCase(l.email), l.firstname, l.lastname,
               l.username, l.language, l.external_id, l.custom_fields, l.status, l.created_at,
               SearchText(l)})
          .status());
  LW_RETURN_IF_ERROR(AdjustCount(tx, ctx.organization_id, "learners", 1, 1));
  LW_RETURN_IF_ERROR(Emit(tx, ctx, "learner.created", l, LearnerJson(l)));
  return l;
}

Result<Learner> GetLearner(store::Tx& tx, const std::string& organization_id,
                           const std::string& id) {
  return Find(tx, organization_id, id, false);
}

Result<Learner> UpdateLearner(store::Tx& tx, const WriteContext& ctx, const std::string& id,
                              const json::object& body, WriteMode mode) {
  LW_ASSIGN_OR_RETURN(Learner current, Find(tx, ctx.organization_id, id, false, true));
  Learner next = current;
  LW_RETURN_IF_ERROR(ApplyBody(body, mode, next, &current));
  json::object before = LearnerJson(current);
  json::object after = LearnerJson(next);
  json::array changed;
  json::object previous;
  for (const auto& kv : after) {
    if (Writable().count(std::string(kv.key())) && before.at(kv.key()) != kv.value()) {
      changed.push_back(json::string(kv.key()));
      previous[kv.key()] = before.at(kv.key());
    }
  }
  if (changed.empty()) {
    return current;
  }
  LW_RETURN_IF_ERROR(CheckUnique(tx, ctx.organization_id, next));
  next.updated_at = std::max(ctx.Now(), current.updated_at + 1);
  LW_RETURN_IF_ERROR(Save(tx, ctx.organization_id, next));
  json::object data = LearnerJson(next);
  data["changed_fields"] = std::move(changed);
  data["previous"] = std::move(previous);
  LW_RETURN_IF_ERROR(Emit(tx, ctx, "learner.updated", next, std::move(data)));
  return next;
}

namespace {

// Soft-deletes a live learner. The condition on deleted_at makes the live count move once even
// when two transactions delete the same learner (PostgreSQL's READ COMMITTED lets both read it
// live); the one that changed no row reports kNotFound.
Status MarkDeleted(store::Tx& tx, const std::string& org, const std::string& id, int64_t at) {
  LW_ASSIGN_OR_RETURN(int64_t changed,
                      tx.Exec("UPDATE learners SET deleted_at = $1, updated_at = $1 WHERE "
                              "organization_id = $2 AND id = $3 AND deleted_at IS NULL",
                              {at, org, id}));
  if (changed == 0) {
    return core::NotFound("learner " + id + " not found");
  }
  return AdjustCount(tx, org, "learners", -1, 0);
}

}  // namespace

Status DeleteLearner(store::Tx& tx, const WriteContext& ctx, const std::string& id) {
  LW_ASSIGN_OR_RETURN(Learner l, Find(tx, ctx.organization_id, id, false, true));
  l.deleted_at = l.updated_at = std::max(ctx.Now(), l.updated_at + 1);
  LW_RETURN_IF_ERROR(MarkDeleted(tx, ctx.organization_id, id, *l.deleted_at));
  // Active enrollments are canceled here once enrollments exist (issue 7).
  return Emit(tx, ctx, "learner.deleted", l, LearnerJson(l));
}

Result<Learner> SetLearnerBanned(store::Tx& tx, const WriteContext& ctx, const std::string& id,
                                 bool banned) {
  LW_ASSIGN_OR_RETURN(Learner l, Find(tx, ctx.organization_id, id, false, true));
  std::string status = banned ? "banned" : "active";
  if (l.status == status) {
    return l;
  }
  l.status = status;
  l.updated_at = std::max(ctx.Now(), l.updated_at + 1);
  LW_RETURN_IF_ERROR(Save(tx, ctx.organization_id, l));
  LW_RETURN_IF_ERROR(
      Emit(tx, ctx, banned ? "learner.banned" : "learner.unbanned", l, LearnerJson(l)));
  return l;
}

Result<Learner> EraseLearner(store::Tx& tx, const WriteContext& ctx, const std::string& id) {
  // A soft-deleted learner can still be erased: privacy law reaches the history too.
  LW_ASSIGN_OR_RETURN(Learner l, Find(tx, ctx.organization_id, id, true, true));
  int64_t now = std::max(ctx.Now(), l.updated_at + 1);
  l.email = l.firstname = l.lastname = "erased";
  if (l.username) {
    l.username = "erased";
  }
  l.external_id.reset();
  l.custom_fields = "{}";
  l.updated_at = now;
  if (!l.deleted_at) {
    l.deleted_at = now;
    LW_RETURN_IF_ERROR(MarkDeleted(tx, ctx.organization_id, id, now));
  }
  LW_RETURN_IF_ERROR(Save(tx, ctx.organization_id, l));
  LW_RETURN_IF_ERROR(tx.Exec("UPDATE learners SET erased_at = $1 WHERE organization_id = $2 AND "
                             "id = $3",
                             {now, ctx.organization_id, l.id})
                         .status());
  LW_RETURN_IF_ERROR(events::ScrubLearner(tx, ctx.organization_id, l.id));
  json::object data{{"id", l.id}, {"external_id", nullptr}};
  // The erasure event names no personal data, so it is not linked for later scrubbing.
  events::NewEvent event{ctx.organization_id, "learner.erased",
                         ctx.actor,           std::move(data),
                         std::nullopt,        events::Relations{{l.id}, {}, {}, {}, {}}};
  LW_RETURN_IF_ERROR(events::Append(tx, ctx.Events(), std::move(event)).status());
  return l;
}

ListQuery LearnerListQuery(const std::string& organization_id, const LearnerFilter& f) {
  ListQuery q;
  q.table = "learners";
  q.columns = kColumns;
  q.where = "organization_id = $1";
  q.params = {organization_id};
  auto add = [&](const std::string& clause, store::Value v) {
    q.params.push_back(std::move(v));
    q.where += " AND " + clause + "$" + std::to_string(q.params.size());
  };
  if (f.email) {
    add("email_lower = ", FoldCase(*f.email));
  }
  if (f.external_id) {
    add("external_id = ", *f.external_id);
  }
  if (f.status) {
    add("status = ", *f.status);
  }
  if (f.group_id || f.department_id) {
    q.where += " AND 0 = 1";  // memberships arrive with groups and departments (issue 6)
  }
  if (f.q) {
    std::string pattern = "%";
    for (char c : FoldCase(*f.q)) {
      if (c == '%' || c == '_' || c == '\\') {
        pattern.push_back('\\');
      }
      pattern.push_back(c);
    }
    pattern.push_back('%');
    q.params.push_back(pattern);
    std::string p = "$" + std::to_string(q.params.size());
    q.where += " AND search_text LIKE " + p + " ESCAPE '\\'";
  }
  if (f.updated_since) {
    add("updated_at >= ", *f.updated_since);
    q.order = ListOrder::kByUpdated;
  }
  if (q.params.size() == 1 && !f.q && !f.group_id && !f.department_id) {
    q.counted_resource = "learners";  // the organization scope alone
  }
  return q;
}

Result<std::vector<BulkItemResult>> BulkUpsertLearners(store::Tx& tx, const WriteContext& ctx,
                                                       const std::vector<json::value>& items) {
  std::vector<BulkItemResult> out;
  out.reserve(items.size());
  std::map<std::string, std::size_t> touched;  // learner id -> the item that wrote it
  for (const json::value& item : items) {
    BulkItemResult r;
    if (!item.is_object()) {
      r.status = 422;
      r.errors.push_back({"", "must be an object"});
      out.push_back(std::move(r));
      continue;
    }
    const json::object& body = item.get_object();
    // Match by external_id when given, else by email (live learners only).
    std::optional<std::string> by_ext, by_email;
    if (const json::value* e = body.if_contains("external_id"); e && e->is_string()) {
      LW_ASSIGN_OR_RETURN(store::Rows rows,
                          tx.Query("SELECT id FROM learners WHERE organization_id = $1 AND "
                                   "external_id = $2 AND deleted_at IS NULL",
                                   {ctx.organization_id, std::string(e->get_string())}));
      if (!rows.empty()) {
        by_ext = rows[0].Str("id");
      }
    }
    if (const json::value* e = body.if_contains("email"); e && e->is_string()) {
      LW_ASSIGN_OR_RETURN(store::Rows rows,
                          tx.Query("SELECT id FROM learners WHERE organization_id = $1 AND "
                                   "email_lower = $2 AND deleted_at IS NULL",
                                   {ctx.organization_id, FoldCase(std::string(e->get_string()))}));
      if (!rows.empty()) {
        by_email = rows[0].Str("id");
      }
    }
    std::optional<std::string> match = by_ext ? by_ext : by_email;
    if (by_ext && by_email && *by_ext != *by_email) {
      r.status = 409;
      r.message = "external_id and email match two different learners";
      out.push_back(std::move(r));
      continue;
    }
    if (match && touched.count(*match)) {
      r.status = 409;
      r.message = "duplicate of item " + std::to_string(touched[*match]) + " in this call";
      out.push_back(std::move(r));
      continue;
    }
    // Each item in its own savepoint: a failing item leaves no trace.
    LW_RETURN_IF_ERROR(tx.Exec("SAVEPOINT bulk_item").status());
    Result<Learner> res = match ? UpdateLearner(tx, ctx, *match, body, WriteMode::kPatch)
                                : CreateLearner(tx, ctx, body);
    if (res.ok()) {
      LW_RETURN_IF_ERROR(tx.Exec("RELEASE SAVEPOINT bulk_item").status());
      r.status = match ? 200 : 201;
      r.id = res->id;
      touched[res->id] = out.size();
    } else {
      LW_RETURN_IF_ERROR(tx.Exec("ROLLBACK TO SAVEPOINT bulk_item").status());
      LW_RETURN_IF_ERROR(tx.Exec("RELEASE SAVEPOINT bulk_item").status());
      const Status& s = res.status();
      if (s.code() == core::Code::kInvalidArgument) {
        r.status = 422;
        r.errors = s.fields();
      } else if (s.code() == core::Code::kConflict) {
        r.status = 409;
        r.message = s.message();
      } else if (s.code() == core::Code::kNotFound) {
        r.status = 404;
        r.message = s.message();
      } else {
        return s;
      }
    }
    out.push_back(std::move(r));
  }
  return out;
}

}  // namespace learnwire::domain
