#include "delivery/queue.h"

#include <algorithm>
#include <boost/json.hpp>
#include <map>
#include <set>

#include "core/log.h"
#include "core/random.h"
#include "delivery/signer.h"

namespace learnwire::delivery {
namespace json = boost::json;
using core::Result;
using core::Status;

namespace {

constexpr std::size_t kLeaseTokenChars = 22;

std::string NewLeaseToken() { return core::RandomBase62(kLeaseTokenChars); }

// The first key of the advisory locks that make claims of an ordered subscription take turns
// on PostgreSQL ("Lw" "ord"); the second is hashtext(webhook id).
constexpr int kOrderedClaimLockClass = 0x4c776f72;

// On PostgreSQL, rows another worker is claiming are skipped rather than waited for (SQLite has
// one writer at a time and no row locks).
std::string SkipLocked(const store::Tx& tx) {
  return tx.Dialect() == "postgres" ? " FOR UPDATE SKIP LOCKED" : "";
}

Claim ClaimOfRow(const store::Rows::Row& row, const std::string& webhook_id) {
  Claim c;
  c.delivery_id = row.Str("id");
  c.organization_id = row.Str("organization_id");
  c.webhook_id = webhook_id;
  c.event_id = row.Str("event_id");
  c.event_type = row.Str("event_type");
  c.state = row.Str("state");
  c.attempt_number = static_cast<int>(row.Int("attempt_count")) + 1;
  c.created_at = row.Int("created_at");
  return c;
}

Status TakeLease(store::Tx& tx, Claim& c, const QueueTime& t, const LeaseTerms& lease) {
  c.lease_token = NewLeaseToken();
  return tx
      .Exec(
          "UPDATE deliveries SET lease_until = $2, leased_by = $3, lease_token = $4 WHERE id = $1",
          {c.delivery_id, t.lease_now + lease.duration_ms, lease.worker_id, c.lease_token})
      .status();
}

std::string HeadersJson(const HeaderList& headers) {
  json::object o;
  for (const auto& [name, value] : headers) {
    // Repeated names keep the first value: the audit shows what the receiver most likely read.
    if (!o.contains(name)) {
      o[name] = value;
    }
  }
  return json::serialize(o);
}

// "scheme://host/path": what webhook.disabled may say about a URL (no port, query or userinfo).
std::string PublicUrl(const std::string& url) {
  auto parsed = ParseWebhookUrl(url);
  if (!parsed.ok()) {
    return "";
  }
  std::string host =
      parsed->host.find(':') != std::string::npos ? "[" + parsed->host + "]" : parsed->host;
  std::string path = parsed->path_and_query.substr(0, parsed->path_and_query.find('?'));
  return parsed->scheme + "://" + host + path;
}

Status DisableWebhook(store::Tx& tx, const events::EventContext& ctx, const std::string& webhook_id,
                      const std::string& reason, int64_t now) {
  LW_ASSIGN_OR_RETURN(int64_t changed,
                      tx.Exec("UPDATE webhooks SET active = 0, deactivate_reason = $2, "
                              "updated_at = $3 WHERE id = $1 AND active = 1 AND "
                              "deleted_at IS NULL",
                              {webhook_id, reason, now}));
  if (changed == 0) {
    return Status::Ok();
  }
  LW_RETURN_IF_ERROR(CancelScheduled(tx, webhook_id, now).status());
  LW_ASSIGN_OR_RETURN(
      store::Rows rows,
      tx.Query("SELECT organization_id, name, url FROM webhooks WHERE id = $1", {webhook_id}));
  json::object data{{"id", webhook_id},
                    {"name", rows[0].Str("name")},
                    {"url", PublicUrl(rows[0].Str("url"))},
                    {"deactivate_reason", reason}};
  events::NewEvent event;
  event.organization_id = rows[0].Str("organization_id");
  event.type = "webhook.disabled";
  event.data = std::move(data);
  return events::Append(tx, ctx, std::move(event)).status();
}

bool Is2xx(const AttemptResult& r) { return r.status && *r.status >= 200 && *r.status < 300; }

}  // namespace

Result<QueueTime> ReadQueueTime(store::Tx& tx, int64_t now) {
  QueueTime t{now, now};
  if (tx.Dialect() == "postgres") {
    // clock_timestamp(), not now(): the moment of the statement, not of the transaction's start.
    LW_ASSIGN_OR_RETURN(
        store::Rows rows,
        tx.Query(
            "SELECT CAST(FLOOR(EXTRACT(EPOCH FROM clock_timestamp()) * 1000) AS BIGINT) AS t"));
    t.lease_now = rows[0].Int("t");
  }
  return t;
}

Result<int64_t> FailAbandonedTests(store::Tx& tx, const QueueTime& t) {
  constexpr int64_t kUnclaimedForMs = 10 * 60'000;
  return tx.Exec(
      "UPDATE deliveries SET state = 'failed', last_error = 'timeout', next_attempt_at = NULL, "
      "lease_until = NULL, leased_by = NULL, lease_token = NULL, finished_at = $3, "
      "updated_at = $3 WHERE test = 1 AND state = 'scheduled' AND "
      "(lease_until <= $1 OR (lease_until IS NULL AND created_at <= $2))",
      {t.lease_now, t.now - kUnclaimedForMs, t.now});
}

Status ClearLeases(store::Tx& tx) {
  LW_RETURN_IF_ERROR(tx.Exec("UPDATE deliveries SET state = 'failed', last_error = 'timeout', "
                             "next_attempt_at = NULL, finished_at = updated_at "
                             "WHERE test = 1 AND state = 'scheduled'")
                         .status());
  return tx
      .Exec(
          "UPDATE deliveries SET lease_until = NULL, leased_by = NULL, lease_token = NULL "
          "WHERE lease_until IS NOT NULL")
      .status();
}

Result<std::vector<ActiveWebhook>> ActiveWebhooks(store::Tx& tx) {
  std::vector<ActiveWebhook> ring;
  LW_RETURN_IF_ERROR(
      tx.QueryEach("SELECT id, rate_limit_per_s, ordered FROM webhooks WHERE active = 1 AND "
                   "deleted_at IS NULL "
                   "ORDER BY id",
                   {}, [&](const store::RowView& row) {
                     ActiveWebhook w{std::string(row.Text(0)), std::nullopt, row.Int(2) != 0};
                     if (!row.IsNull(1)) {
                       w.rate_limit_per_s = static_cast<int>(row.Int(1));
                     }
                     ring.push_back(std::move(w));
                     return Status::Ok();
                   }));
  return ring;
}

Result<std::vector<Claim>> ClaimDue(store::Tx& tx, const std::string& webhook_id,
                                    const QueueTime& t, int limit, const LeaseTerms& lease) {
  // One statement leases the batch; the token is shared by the batch and new at every claim, so
  // each (delivery, token) pair still names exactly one lease.
  const std::string token = NewLeaseToken();
  LW_ASSIGN_OR_RETURN(
      store::Rows rows,
      tx.Query("UPDATE deliveries SET lease_until = $3, leased_by = $4, lease_token = $5 "
               "WHERE seq IN (SELECT seq FROM deliveries WHERE webhook_id = $1 AND "
               "state = 'scheduled' AND test = 0 AND next_attempt_at <= $2 AND "
               "(lease_until IS NULL OR lease_until <= $7) ORDER BY next_attempt_at, seq "
               "LIMIT $6" +
                   SkipLocked(tx) +
                   ") RETURNING id, organization_id, event_id, event_type, state, "
                   "attempt_count, created_at",
               {webhook_id, t.now, t.lease_now + lease.duration_ms, lease.worker_id, token, limit,
                t.lease_now}));
  std::vector<Claim> claims;
  claims.reserve(rows.size());
  for (std::size_t i = 0; i < rows.size(); ++i) {
    Claim c = ClaimOfRow(rows[i], webhook_id);
    c.lease_token = token;
    claims.push_back(std::move(c));
  }
  // RETURNING gives no order: oldest first (ids are time-ordered).
  std::sort(claims.begin(), claims.end(),
            [](const Claim& a, const Claim& b) { return a.delivery_id < b.delivery_id; });
  return claims;
}

Result<HeadClaim> ClaimHead(store::Tx& tx, const std::string& webhook_id, const QueueTime& t,
                            const LeaseTerms& lease) {
  HeadClaim out;
  if (tx.Dialect() == "postgres") {
    LW_ASSIGN_OR_RETURN(store::Rows lock, tx.Query("SELECT pg_try_advisory_xact_lock(" +
                                                       std::to_string(kOrderedClaimLockClass) +
                                                       ", hashtext($1)) AS mine",
                                                   {webhook_id}));
    if (lock[0].Int("mine") != 1) {
      return out;  // another node is claiming for this subscription right now
    }
  }
  LW_ASSIGN_OR_RETURN(
      store::Rows head,
      tx.Query("SELECT seq, next_attempt_at, lease_until FROM deliveries WHERE webhook_id = $1 "
               "AND state = 'scheduled' AND test = 0 ORDER BY seq LIMIT 1",
               {webhook_id}));
  if (head.empty()) {
    return out;
  }
  if (!head[0].IsNull("lease_until") && head[0].Int("lease_until") > t.lease_now) {
    return out;  // in flight
  }
  if (head[0].Int("next_attempt_at") > t.now) {
    out.head_due_at = head[0].Int("next_attempt_at");
    return out;
  }
  const std::string token = NewLeaseToken();
  LW_ASSIGN_OR_RETURN(
      store::Rows rows,
      tx.Query("UPDATE deliveries SET lease_until = $3, leased_by = $4, lease_token = $5 "
               "WHERE seq = $1 AND state = 'scheduled' AND next_attempt_at <= $2 AND "
               "(lease_until IS NULL OR lease_until <= $6) RETURNING id, organization_id, "
               "event_id, event_type, state, attempt_count, created_at",
               {head[0].Int("seq"), t.now, t.lease_now + lease.duration_ms, lease.worker_id, token,
                t.lease_now}));
  if (!rows.empty()) {
    out.claim = ClaimOfRow(rows[0], webhook_id);
    out.claim->lease_token = token;
  }
  return out;
}

Result<std::map<std::string, std::string>> LoadEventBodies(store::Tx& tx,
                                                           const std::string& organization_id,
                                                           const std::vector<std::string>& ids) {
  std::map<std::string, std::string> bodies;
  constexpr std::size_t kChunk = 100;
  for (std::size_t from = 0; from < ids.size(); from += kChunk) {
    store::Params p;
    std::string in;
    for (std::size_t i = from; i < std::min(ids.size(), from + kChunk); ++i) {
      p.push_back(ids[i]);
      in += (in.empty() ? "$" : ", $") + std::to_string(p.size());
    }
    // By id alone (the unique index): with the organization in the WHERE clause SQLite may walk
    // the organization's index instead, reading every event it has. The organization is checked
    // on each row.
    LW_RETURN_IF_ERROR(
        tx.QueryEach("SELECT id, organization_id, payload FROM events WHERE id IN (" + in + ")", p,
                     [&](const store::RowView& row) {
                       if (row.Text(1) == organization_id) {
                         bodies.emplace(std::string(row.Text(0)), std::string(row.Text(2)));
                       }
                       return Status::Ok();
                     }));
  }
  return bodies;
}

Result<Claim> ClaimOne(store::Tx& tx, const std::string& organization_id,
                       const std::string& delivery_id, AttemptKind kind, const QueueTime& t,
                       const LeaseTerms& lease) {
  LW_ASSIGN_OR_RETURN(
      store::Rows rows,
      tx.Query("SELECT d.id, d.organization_id, d.webhook_id, d.event_id, d.event_type, d.state, "
               "d.attempt_count, d.created_at, d.test, d.lease_until, w.deleted_at "
               "FROM deliveries d JOIN webhooks w ON w.id = d.webhook_id "
               "WHERE d.organization_id = $1 AND d.id = $2" +
                   ForUpdate(tx, "OF d"),
               {organization_id, delivery_id}));
  if (rows.empty()) {
    return core::NotFound("delivery not found");
  }
  auto row = rows[0];
  if (!row.IsNull("lease_until") && row.Int("lease_until") > t.lease_now) {
    return core::Conflict("an attempt of this delivery is in flight");
  }
  if (kind == AttemptKind::kRetry) {
    if (row.Str("state") == "scheduled") {
      return core::Conflict("the delivery is scheduled: it will be attempted on its schedule");
    }
    if (!row.IsNull("deleted_at")) {
      return core::Conflict("the webhook of this delivery was deleted");
    }
  }
  if (kind == AttemptKind::kTest && row.Int("test") != 1) {
    return core::Conflict("not a test delivery");
  }
  Claim c = ClaimOfRow(row, row.Str("webhook_id"));
  c.kind = kind;
  LW_RETURN_IF_ERROR(TakeLease(tx, c, t, lease));
  return c;
}

Result<std::optional<int64_t>> NextDueAt(store::Tx& tx, const QueueTime& t) {
  // Two index walks (deliveries_next, deliveries_leased) rather than one scan of every
  // scheduled row: the backlog may hold millions.
  LW_ASSIGN_OR_RETURN(store::Rows due,
                      tx.Query("SELECT next_attempt_at FROM deliveries WHERE state = 'scheduled' "
                               "AND test = 0 AND lease_until IS NULL ORDER BY next_attempt_at "
                               "LIMIT 1"));
  LW_ASSIGN_OR_RETURN(
      store::Rows leased,
      tx.Query("SELECT MIN(lease_until) AS t FROM deliveries WHERE lease_until IS NOT NULL"));
  std::optional<int64_t> next = due.empty() ? std::nullopt : due[0].OptInt("next_attempt_at");
  std::optional<int64_t> expiry = leased.empty() ? std::nullopt : leased[0].OptInt("t");
  if (expiry) {
    *expiry += t.now - t.lease_now;  // on the program's clock
  }
  if (next && expiry) {
    return std::optional<int64_t>(std::min(*next, *expiry));
  }
  return next ? next : expiry;  // either, or neither
}

Result<std::shared_ptr<const SubscriptionMaterial>> LoadSubscription(
    store::Tx& tx, const std::string& organization_id, const std::string& webhook_id, int64_t now) {
  auto m = std::make_shared<SubscriptionMaterial>();
  bool found = false;
  LW_RETURN_IF_ERROR(tx.QueryEach(std::string("SELECT ") + kWebhookColumns +
                                      " FROM webhooks WHERE id = $1 AND organization_id = $2",
                                  {webhook_id, organization_id}, [&](const store::RowView& row) {
                                    m->webhook = WebhookOfRow(row);
                                    found = true;
                                    return Status::Ok();
                                  }));
  if (!found) {
    return core::NotFound("webhook " + webhook_id + " not found");
  }
  LW_ASSIGN_OR_RETURN(std::vector<StoredSecret> secrets, SigningSecrets(tx, webhook_id, now));
  for (const StoredSecret& s : secrets) {
    auto key = DecodeSigningKey(s.secret);
    if (key.ok()) {
      m->signing_keys.push_back(std::move(key).value());
    }
  }
  return std::shared_ptr<const SubscriptionMaterial>(std::move(m));
}

Result<std::string> LoadEventBody(store::Tx& tx, const std::string& organization_id,
                                  const std::string& event_id) {
  LW_ASSIGN_OR_RETURN(store::Rows event,
                      tx.Query("SELECT payload FROM events WHERE organization_id = $1 AND id = $2",
                               {organization_id, event_id}));
  if (event.empty()) {
    return core::NotFound("event " + event_id + " not found");
  }
  return event[0].Str("payload");
}

Result<AttemptMaterial> LoadMaterial(store::Tx& tx, const Claim& claim, int64_t now) {
  AttemptMaterial m;
  LW_ASSIGN_OR_RETURN(m.subscription,
                      LoadSubscription(tx, claim.organization_id, claim.webhook_id, now));
  LW_ASSIGN_OR_RETURN(m.body, LoadEventBody(tx, claim.organization_id, claim.event_id));
  return m;
}

namespace {

// A finished attempt to insert, and whether its delivery is a test (stats leave those out).
struct AttemptRow {
  const Finished* finished;
  bool test;
};

// The attempt rows of finished attempts, several per statement.
Status InsertAttempts(store::Tx& tx, const std::vector<AttemptRow>& finished) {
  constexpr std::size_t kRowsPerStatement = 50;
  for (std::size_t from = 0; from < finished.size(); from += kRowsPerStatement) {
    std::string sql =
        "INSERT INTO attempts (delivery_id, number, started_at, duration_ms, status, error, "
        "response_excerpt, response_headers, request_headers, webhook_id, test) VALUES ";
    store::Params p;
    for (std::size_t i = from; i < std::min(finished.size(), from + kRowsPerStatement); ++i) {
      const Finished& f = *finished[i].finished;
      const AttemptResult& r = f.result;
      sql += i == from ? "(" : ", (";
      for (int k = 0; k < 11; ++k) {
        sql += (k ? ", $" : "$") + std::to_string(p.size() + 1 + k);
      }
      sql += ")";
      for (store::Value v :
           {store::Value(f.claim.delivery_id), store::Value(f.claim.attempt_number),
            store::Value(f.started_at), store::Value(r.duration_ms), store::Value(r.status),
            store::Value(r.error), store::Value(r.response_excerpt),
            store::Value(HeadersJson(r.response_headers)),
            store::Value(HeadersJson(f.request_headers)), store::Value(f.claim.webhook_id),
            store::Value(finished[i].test)}) {
        p.push_back(std::move(v));
      }
    }
    LW_RETURN_IF_ERROR(tx.Exec(sql, p).status());
  }
  return Status::Ok();
}

// One result: the delivery's new state (fenced), its attempt row (now, or appended to
// `deferred_attempts` for one multi-row insert), and what it does to the subscription. Sets
// `rec` and `test` (whether the delivery is a test one); `succeeded_webhooks` holds the
// subscriptions with a 2xx so far.
Status RecordOne(store::Tx& tx, const events::EventContext& ctx, const Finished& f, int64_t now,
                 const Uniform01& uniform, const std::set<std::string>& succeeded_webhooks,
                 Recorded& rec, bool& test, std::vector<AttemptRow>* deferred_attempts) {
  const Claim& c = f.claim;
  const AttemptResult& r = f.result;
  const bool ok = Is2xx(r);
  // What the delivery becomes, written with CASE so a delivery canceled while its attempt was
  // in flight stays canceled unless the attempt succeeded.
  std::string state_sql = "state";
  std::optional<int64_t> next;
  std::optional<Decision> decision;
  if (ok) {
    state_sql = "'succeeded'";
  } else if (c.kind == AttemptKind::kTest) {
    state_sql = "'failed'";
  } else if (c.kind == AttemptKind::kScheduled) {
    AttemptOutcome outcome{r.status, !r.status.has_value(), r.retry_after};
    decision = Decide(f.policy, c.attempt_number, outcome, core::FromUnixMs(now), uniform);
    if (decision->verdict == Verdict::kRetry) {
      next = core::ToUnixMs(*decision->next_attempt_at);
    } else {
      state_sql = "CASE WHEN state = 'scheduled' THEN 'failed' ELSE state END";
    }
  }
  LW_ASSIGN_OR_RETURN(
      store::Rows updated,
      tx.Query("UPDATE deliveries SET state = " + state_sql +
                   ", attempt_count = $3, next_attempt_at = CASE WHEN " + state_sql +
                   " = 'scheduled' THEN CAST($4 AS BIGINT) ELSE NULL END, last_status = $5, "
                   "last_error = $6, "
                   "lease_until = NULL, leased_by = NULL, lease_token = NULL, "
                   "finished_at = CASE WHEN " +
                   state_sql +
                   " = 'scheduled' THEN NULL ELSE COALESCE(finished_at, $7) END, "
                   "first_attempt_at = COALESCE(first_attempt_at, $8), updated_at = $7 "
                   "WHERE id = $1 AND lease_token = $2 RETURNING state, test",
               {c.delivery_id, c.lease_token, c.attempt_number, next, r.status, r.error, now,
                f.started_at}));
  if (updated.empty()) {
    rec.why = "the lease was lost: another claim owns this delivery now";
    return Status::Ok();
  }
  rec.written = true;
  rec.state = updated[0].Str("state");
  test = updated[0].Int("test") == 1;
  if (deferred_attempts) {
    deferred_attempts->push_back({&f, test});
  } else {
    LW_RETURN_IF_ERROR(InsertAttempts(tx, {{&f, test}}));
  }
  if (c.kind != AttemptKind::kScheduled) {
    return Status::Ok();  // /test and /retry never change the subscription's state
  }
  if (decision && decision->verdict == Verdict::kDisable) {
    return DisableWebhook(tx, ctx, c.webhook_id, decision->disable_reason.value_or("http_4xx"),
                          now);
  }
  if (decision && decision->exhausted && rec.state == "failed" &&
      !succeeded_webhooks.count(c.webhook_id)) {
    LW_ASSIGN_OR_RETURN(
        store::Rows w,
        tx.Query("SELECT last_success_at FROM webhooks WHERE id = $1", {c.webhook_id}));
    if (!w.empty() &&
        (w[0].IsNull("last_success_at") || w[0].Int("last_success_at") < c.created_at)) {
      return DisableWebhook(tx, ctx, c.webhook_id, "retries_exhausted", now);
    }
  }
  return Status::Ok();
}

// Whether a result needs nothing after its delivery's own row and attempt: a 2xx, a /test or
// /retry attempt, or a failed scheduled attempt that is retried. The others (a final failure, a
// subscription to disable) are written one at a time by RecordOne. Sets `next` for a retry.
bool IsSimple(const Finished& f, int64_t now, const Uniform01& uniform,
              std::optional<int64_t>& next) {
  if (Is2xx(f.result) || f.claim.kind != AttemptKind::kScheduled) {
    return true;
  }
  AttemptOutcome outcome{f.result.status, !f.result.status.has_value(), f.result.retry_after};
  Decision d = Decide(f.policy, f.claim.attempt_number, outcome, core::FromUnixMs(now), uniform);
  if (d.verdict != Verdict::kRetry) {
    return false;
  }
  next = core::ToUnixMs(*d.next_attempt_at);
  return true;
}

// A simple result (see IsSimple) and its retry time.
struct SimpleRow {
  const Finished* finished;
  std::optional<int64_t> next;
  Recorded* rec;
  bool test = false;
};

// Writes simple results with one fenced UPDATE … FROM (VALUES …) per chunk instead of one
// statement each (B1's profile: per-delivery statements were a fifth of the dispatcher's time on
// SQLite, and a round trip each on PostgreSQL). Each row's new state follows RecordOne's rules:
// `succeeded` for a 2xx; `failed` for a failed /test; otherwise unchanged, so a retried delivery
// stays scheduled and one canceled while in flight stays canceled. Rows fenced out are left
// unwritten; the rest are marked written with their state.
Status UpdateSimple(store::Tx& tx, std::vector<SimpleRow>& rows, int64_t now) {
  constexpr std::size_t kRowsPerStatement = 50;
  // v.column7: 's' succeeded, 'f' failed, 'k' keep the state.
  const std::string new_state =
      "(CASE v.column7 WHEN 's' THEN 'succeeded' WHEN 'f' THEN 'failed' ELSE deliveries.state END)";
  for (std::size_t from = 0; from < rows.size(); from += kRowsPerStatement) {
    const std::size_t to = std::min(rows.size(), from + kRowsPerStatement);
    std::string values;
    store::Params p;
    std::map<std::string, SimpleRow*> by_id;
    for (std::size_t i = from; i < to; ++i) {
      const Finished& f = *rows[i].finished;
      const AttemptResult& r = f.result;
      const int n = static_cast<int>(p.size());
      auto slot = [&](int k, const char* type) {
        return "CAST($" + std::to_string(n + k) + " AS " + type + ")";
      };
      values += i == from ? "(" : ", (";
      values += slot(1, "TEXT") + ", " + slot(2, "TEXT") + ", " + slot(3, "INTEGER") + ", " +
                slot(4, "BIGINT") + ", " + slot(5, "INTEGER") + ", " + slot(6, "TEXT") + ", " +
                slot(7, "TEXT") + ", " + slot(8, "BIGINT") + ")";
      const char* kind = Is2xx(r) ? "s" : f.claim.kind == AttemptKind::kTest ? "f" : "k";
      for (store::Value v : {store::Value(f.claim.delivery_id), store::Value(f.claim.lease_token),
                             store::Value(f.claim.attempt_number), store::Value(rows[i].next),
                             store::Value(r.status), store::Value(r.error),
                             store::Value(std::string(kind)), store::Value(f.started_at)}) {
        p.push_back(std::move(v));
      }
      by_id[f.claim.delivery_id] = &rows[i];
    }
    const std::string now_slot = "CAST($" + std::to_string(p.size() + 1) + " AS BIGINT)";
    p.push_back(store::Value(now));
    const std::string sql =
        "UPDATE deliveries SET state = " + new_state +
        ", attempt_count = v.column3, next_attempt_at = CASE WHEN " + new_state +
        " = 'scheduled' THEN v.column4 ELSE NULL END, last_status = v.column5, "
        "last_error = v.column6, lease_until = NULL, leased_by = NULL, lease_token = NULL, "
        "finished_at = CASE WHEN " +
        new_state + " = 'scheduled' THEN NULL ELSE COALESCE(deliveries.finished_at, " + now_slot +
        ") END, first_attempt_at = COALESCE(deliveries.first_attempt_at, v.column8), "
        "updated_at = " +
        now_slot + " FROM (VALUES " + values +
        ") AS v WHERE deliveries.id = v.column1 AND deliveries.lease_token = v.column2 "
        "RETURNING id, state, test";
    LW_RETURN_IF_ERROR(tx.QueryEach(sql, p, [&](const store::RowView& row) {
      auto it = by_id.find(std::string(row.Text(0)));
      if (it != by_id.end()) {
        it->second->rec->written = true;
        it->second->rec->state = std::string(row.Text(1));
        it->second->test = row.Int(2) == 1;
      }
      return Status::Ok();
    }));
  }
  for (SimpleRow& row : rows) {
    if (!row.rec->written) {
      row.rec->why = "the lease was lost: another claim owns this delivery now";
    }
  }
  return Status::Ok();
}

}  // namespace

Result<std::vector<Recorded>> RecordResults(store::Tx& tx, const events::EventContext& ctx,
                                            const std::vector<Finished>& finished, int64_t now,
                                            const Uniform01& uniform, bool isolate) {
  std::vector<Recorded> out;
  out.reserve(finished.size());
  for (const Finished& f : finished) {
    out.push_back(Recorded{f.claim.delivery_id, false, "", ""});
  }
  // A 2xx of a scheduled attempt or a /retry (not a /test) counts as the subscription's last
  // success; written once per subscription, at the end, and seen by later results of the batch.
  std::set<std::string> succeeded_webhooks;
  // The start of each subscription's newest non-test attempt (webhooks.last_attempt_at, the
  // stats' last_delivery_at), likewise written once per subscription.
  std::map<std::string, int64_t> last_attempts;
  std::vector<AttemptRow> deferred;
  auto note = [&](const Finished& f, const Recorded& rec, bool test) {
    if (rec.written && Is2xx(f.result) && f.claim.kind != AttemptKind::kTest) {
      succeeded_webhooks.insert(f.claim.webhook_id);
    }
    if (rec.written && !test) {
      int64_t& last = last_attempts[f.claim.webhook_id];
      last = std::max(last, f.started_at);
    }
  };
  // Without isolation, simple results go first, several per statement; their successes are
  // then seen by the final failures of the same batch.
  std::vector<bool> done(finished.size(), false);
  if (!isolate) {
    std::vector<SimpleRow> simple;
    for (std::size_t i = 0; i < finished.size(); ++i) {
      std::optional<int64_t> next;
      if (IsSimple(finished[i], now, uniform, next)) {
        simple.push_back({&finished[i], next, &out[i]});
        done[i] = true;
      }
    }
    LW_RETURN_IF_ERROR(UpdateSimple(tx, simple, now));
    for (const SimpleRow& row : simple) {
      if (row.rec->written) {
        deferred.push_back({row.finished, row.test});
      }
      note(*row.finished, *row.rec, row.test);
    }
  }
  for (std::size_t i = 0; i < finished.size(); ++i) {
    if (done[i]) {
      continue;
    }
    const Finished& f = finished[i];
    Recorded& rec = out[i];
    bool test = false;
    if (!isolate) {
      LW_RETURN_IF_ERROR(
          RecordOne(tx, ctx, f, now, uniform, succeeded_webhooks, rec, test, &deferred));
    } else {
      LW_RETURN_IF_ERROR(tx.Exec("SAVEPOINT record_result").status());
      Status st = RecordOne(tx, ctx, f, now, uniform, succeeded_webhooks, rec, test, nullptr);
      if (st.ok()) {
        LW_RETURN_IF_ERROR(tx.Exec("RELEASE record_result").status());
      } else {
        LW_RETURN_IF_ERROR(tx.Exec("ROLLBACK TO record_result").status());
        LW_RETURN_IF_ERROR(tx.Exec("RELEASE record_result").status());
        core::Log(core::LogLevel::kError, "dispatcher: a result could not be recorded",
                  {{"delivery_id", f.claim.delivery_id}, {"error", st.message()}});
        rec = Recorded{f.claim.delivery_id, false, "", "it could not be written: " + st.message()};
      }
    }
    note(f, rec, test);
  }
  LW_RETURN_IF_ERROR(InsertAttempts(tx, deferred));
  for (const std::string& webhook_id : succeeded_webhooks) {
    LW_RETURN_IF_ERROR(tx.Exec("UPDATE webhooks SET last_success_at = $2 WHERE id = $1 AND "
                               "(last_success_at IS NULL OR last_success_at < $2)",
                               {webhook_id, now})
                           .status());
  }
  for (const auto& [webhook_id, started_at] : last_attempts) {
    LW_RETURN_IF_ERROR(tx.Exec("UPDATE webhooks SET last_attempt_at = $2 WHERE id = $1 AND "
                               "(last_attempt_at IS NULL OR last_attempt_at < $2)",
                               {webhook_id, started_at})
                           .status());
  }
  return out;
}

Status AbandonDelivery(store::Tx& tx, const Claim& claim, int64_t now) {
  return tx
      .Exec(
          "UPDATE deliveries SET state = 'failed', next_attempt_at = NULL, lease_until = NULL, "
          "leased_by = NULL, lease_token = NULL, finished_at = $3, updated_at = $3 "
          "WHERE id = $1 AND lease_token = $2",
          {claim.delivery_id, claim.lease_token, now})
      .status();
}

Result<QueueStats> ReadQueueStats(store::Tx& tx, int64_t now) {
  LW_ASSIGN_OR_RETURN(QueueTime t, ReadQueueTime(tx, now));
  QueueStats stats;
  for (const char* state : {"scheduled", "succeeded", "failed", "canceled"}) {
    stats.by_state.emplace_back(state, 0);
  }
  LW_ASSIGN_OR_RETURN(store::Rows rows,
                      tx.Query("SELECT state, COUNT(*) AS n FROM deliveries GROUP BY state"));
  for (std::size_t i = 0; i < rows.size(); ++i) {
    for (auto& [state, n] : stats.by_state) {
      if (state == rows[i].Str("state")) {
        n = rows[i].Int("n");
      }
    }
  }
  LW_ASSIGN_OR_RETURN(store::Rows due,
                      tx.Query("SELECT COUNT(*) AS n, MIN(next_attempt_at) AS oldest FROM "
                               "deliveries WHERE state = 'scheduled' AND test = 0 AND "
                               "next_attempt_at <= $1 AND (lease_until IS NULL OR "
                               "lease_until <= $2)",
                               {t.now, t.lease_now}));
  stats.due = due[0].Int("n");
  if (!due[0].IsNull("oldest")) {
    stats.oldest_due_age_ms = now - due[0].Int("oldest");
  }
  return stats;
}

Status ReleaseLeases(store::Tx& tx, const std::vector<Claim>& claims) {
  for (const Claim& c : claims) {
    const char* sql =
        c.kind == AttemptKind::kTest
            ? "UPDATE deliveries SET state = 'failed', last_error = 'timeout', next_attempt_at = "
              "NULL, lease_until = NULL, leased_by = NULL, finished_at = updated_at "
              "WHERE id = $1 AND lease_token = $2"
            : "UPDATE deliveries SET lease_until = NULL, leased_by = NULL WHERE id = $1 AND "
              "lease_token = $2";
    LW_RETURN_IF_ERROR(tx.Exec(sql, {c.delivery_id, c.lease_token}).status());
  }
  return Status::Ok();
}

}  // namespace learnwire::delivery
