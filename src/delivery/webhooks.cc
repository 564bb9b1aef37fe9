#include "delivery/webhooks.h"

#include <algorithm>
#include <boost/json.hpp>
#include <memory>

#include "core/time_format.h"
#include "delivery/signer.h"

namespace learnwire::delivery {
namespace json = boost::json;
using core::Result;
using core::Status;

const char* const kWebhookColumns =
    "id, organization_id, name, url, description, active, deactivate_reason, event_types, "
    "filters, basic_auth_username, basic_auth_password, headers, signature_scheme, "
    "legacy_signature, retry_policy, rate_limit_per_s, ordered, last_success_at, created_at, "
    "updated_at, public_key";

namespace {

std::optional<std::string> OptText(const store::RowView& r, int column) {
  if (r.IsNull(column)) {
    return std::nullopt;
  }
  return std::string(r.Text(column));
}

// The webhook row and its JSON columns, parsed. Stored documents were written by this module,
// so a parse failure leaves the field at its default rather than failing a read.
class RowReader {
 public:
  explicit RowReader(const store::RowView& r) : r_(r) {}
  json::value Json(int column) const {
    boost::system::error_code ec;
    json::value v = json::parse(r_.Text(column), ec);
    return ec ? json::value() : v;
  }

 private:
  const store::RowView& r_;
};

}  // namespace

Webhook WebhookOfRow(const store::RowView& r) {
  RowReader reader(r);
  Webhook w;
  w.id = r.Text(0);
  w.organization_id = r.Text(1);
  w.name = r.Text(2);
  w.url = r.Text(3);
  w.description = OptText(r, 4);
  w.active = r.Int(5) != 0;
  w.deactivate_reason = OptText(r, 6);
  if (json::value types = reader.Json(7); types.is_array()) {
    for (const json::value& t : types.get_array()) {
      if (t.is_string()) {
        w.event_types.emplace_back(t.get_string());
      }
    }
  }
  if (json::value filters = reader.Json(8); filters.is_object()) {
    w.filters = std::move(filters.get_object());
  }
  w.basic_auth_username = OptText(r, 9);
  w.basic_auth_password = OptText(r, 10);
  if (json::value headers = reader.Json(11); headers.is_array()) {
    for (const json::value& h : headers.get_array()) {
      if (h.is_array() && h.get_array().size() == 2 && h.get_array()[0].is_string() &&
          h.get_array()[1].is_string()) {
        w.headers.emplace_back(std::string(h.get_array()[0].get_string()),
                               std::string(h.get_array()[1].get_string()));
      }
    }
  }
  w.signature_scheme = r.Text(12);
  w.legacy_signature = r.Int(13) != 0;
  if (auto policy = ParseStoredRetryPolicy(r.Text(14)); policy.ok()) {
    w.retry_policy = std::move(policy).value();
  }
  if (!r.IsNull(15)) {
    w.rate_limit_per_s = static_cast<int>(r.Int(15));
  }
  w.ordered = r.Int(16) != 0;
  if (!r.IsNull(17)) {
    w.last_success_at = r.Int(17);
  }
  w.created_at = r.Int(18);
  w.updated_at = r.Int(19);
  w.public_key = OptText(r, 20);
  return w;
}

json::object RenderWebhook(const Webhook& w) {
  json::object o;
  o["id"] = w.id;
  o["name"] = w.name;
  o["url"] = w.url;
  o["description"] = w.description ? json::value(*w.description) : json::value(nullptr);
  o["active"] = w.active;
  o["deactivate_reason"] =
      w.deactivate_reason ? json::value(*w.deactivate_reason) : json::value(nullptr);
  json::array types;
  for (const std::string& t : w.event_types) {
    types.emplace_back(t);
  }
  o["event_types"] = std::move(types);
  o["filters"] = w.filters;
  if (w.basic_auth_username) {
    o["basic_auth"] =
        json::object{{"username", *w.basic_auth_username}, {"password", kWriteOnlyValue}};
  } else {
    o["basic_auth"] = nullptr;
  }
  json::object headers;
  for (const auto& [name, value] : w.headers) {
    headers[name] = kWriteOnlyValue;
  }
  o["headers"] = std::move(headers);
  o["signature_scheme"] = w.signature_scheme;
  o["public_key"] = w.public_key ? json::value(*w.public_key) : json::value(nullptr);
  o["legacy_signature"] = w.legacy_signature;
  o["retry_policy"] = RenderRetryPolicy(w.retry_policy);
  o["rate_limit_per_s"] = w.rate_limit_per_s ? json::value(*w.rate_limit_per_s) : nullptr;
  o["ordered"] = w.ordered;
  o["created_at"] = core::FormatTime(w.created_at);
  o["updated_at"] = core::FormatTime(w.updated_at);
  return o;
}

WebhookRules WithUrlResolved(const WebhookRules& rules, const json::object& body) {
  const json::value* url = body.if_contains("url");
  if (!url || !url->is_string() || !rules.resolve) {
    return rules;
  }
  core::Result<ParsedUrl> parsed = ParseWebhookUrl(std::string(url->get_string()));
  if (!parsed.ok() || parsed->host_is_ip) {
    return rules;
  }
  WebhookRules out = rules;
  const std::string host = parsed->host;
  auto answer = std::make_shared<core::Result<std::vector<core::IpAddress>>>(rules.resolve(host));
  out.resolve = [host, answer](const std::string& asked) {
    if (asked != host) {
      return core::Result<std::vector<core::IpAddress>>(
          core::Unavailable("not resolved before the transaction"));
    }
    return *answer;
  };
  return out;
}

namespace {

std::string StoredHeaders(const Webhook& w) {
  json::array a;
  for (const auto& [name, value] : w.headers) {
    a.push_back(json::array{json::value(name), json::value(value)});
  }
  return json::serialize(a);
}

std::string StoredTypes(const Webhook& w) {
  json::array a;
  for (const std::string& t : w.event_types) {
    a.emplace_back(t);
  }
  return json::serialize(a);
}

// The UPDATE's parameters: every column but last_success_at and created_at (no gaps in the
// numbering: PostgreSQL must infer a type for each parameter it is given).
store::Params WithoutInsertOnlyColumns(store::Params p) {
  store::Value updated_at = p[19];
  store::Value public_key = p[20];
  p.resize(17);
  p.push_back(std::move(updated_at));
  p.push_back(std::move(public_key));
  return p;
}

Status Save(store::Tx& tx, const Webhook& w, bool insert) {
  store::Params p = {w.id,
                     w.organization_id,
                     w.name,
                     w.url,
                     w.description,
                     w.active,
                     w.deactivate_reason,
                     StoredTypes(w),
                     json::serialize(w.filters),
                     w.basic_auth_username,
                     w.basic_auth_password,
                     StoredHeaders(w),
                     w.signature_scheme,
                     w.legacy_signature,
                     StoredRetryPolicy(w.retry_policy),
                     w.rate_limit_per_s,
                     w.ordered,
                     w.last_success_at,
                     w.created_at,
                     w.updated_at,
                     w.public_key};
  if (insert) {
    return tx
        .Exec(std::string("INSERT INTO webhooks (") + kWebhookColumns +
                  ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, "
                  "$15, $16, $17, $18, $19, $20, $21)",
              p)
        .status();
  }
  return tx
      .Exec(
          "UPDATE webhooks SET name = $3, url = $4, description = $5, active = $6, "
          "deactivate_reason = $7, event_types = $8, filters = $9, basic_auth_username = $10, "
          "basic_auth_password = $11, headers = $12, signature_scheme = $13, "
          "legacy_signature = $14, retry_policy = $15, rate_limit_per_s = $16, ordered = $17, "
          "updated_at = $18, public_key = $19 WHERE id = $1 AND organization_id = $2 AND "
          "deleted_at IS NULL",
          WithoutInsertOnlyColumns(std::move(p)))
      .status();
}

// Every stored field but the times, write-only values included: what decides a no-op update.
bool SameSettings(const Webhook& a, const Webhook& b) {
  return a.name == b.name && a.url == b.url && a.description == b.description &&
         a.active == b.active && a.event_types == b.event_types && a.filters == b.filters &&
         a.basic_auth_username == b.basic_auth_username &&
         a.basic_auth_password == b.basic_auth_password && a.headers == b.headers &&
         a.signature_scheme == b.signature_scheme && a.legacy_signature == b.legacy_signature &&
         StoredRetryPolicy(a.retry_policy) == StoredRetryPolicy(b.retry_policy) &&
         a.rate_limit_per_s == b.rate_limit_per_s && a.ordered == b.ordered;
}

Status InsertSecret(store::Tx& tx, const std::string& webhook_id, const std::string& secret,
                    int64_t now) {
  return tx
      .Exec(
          "INSERT INTO webhook_secrets (webhook_id, secret, created_at, expires_at) "
          "VALUES ($1, $2, $3, NULL)",
          {webhook_id, secret, now})
      .status();
}

// A new current signing key for the webhook's scheme ("whsec_…", the given one if any, or
// "whsk_…"), setting its public_key to match.
std::string NewKeyFor(Webhook& webhook, const std::optional<std::string>& given = std::nullopt) {
  if (webhook.signature_scheme == "ed25519") {
    std::string key = NewPrivateKey();
    webhook.public_key = PublicKeyText(DecodeSigningKey(key)->key);
    return key;
  }
  webhook.public_key.reset();
  return given ? *given : NewSecret();
}

// Makes `key` the current signing key; the old current one signs until `previous_expires_at`;
// besides the current one at most kMaxPreviousSecrets sign (older ones stop now).
Status ReplaceCurrentKey(store::Tx& tx, const std::string& webhook_id, const std::string& key,
                         int64_t now, int64_t previous_expires_at) {
  LW_RETURN_IF_ERROR(tx.Exec("UPDATE webhook_secrets SET expires_at = $2 WHERE webhook_id = $1 "
                             "AND expires_at IS NULL",
                             {webhook_id, previous_expires_at})
                         .status());
  LW_RETURN_IF_ERROR(InsertSecret(tx, webhook_id, key, now));
  LW_ASSIGN_OR_RETURN(std::vector<StoredSecret> signing, SigningSecrets(tx, webhook_id, now));
  for (std::size_t i = 1 + kMaxPreviousSecrets; i < signing.size(); ++i) {
    LW_RETURN_IF_ERROR(tx.Exec("UPDATE webhook_secrets SET expires_at = $3 WHERE webhook_id = $1 "
                               "AND secret = $2",
                               {webhook_id, signing[i].secret, now})
                           .status());
  }
  return Status::Ok();
}

}  // namespace

Result<Webhook> GetWebhook(store::Tx& tx, const std::string& organization_id, const std::string& id,
                           bool for_update) {
  std::optional<Webhook> found;
  LW_RETURN_IF_ERROR(tx.QueryEach(
      std::string("SELECT ") + kWebhookColumns +
          " FROM webhooks WHERE organization_id = $1 AND id = $2 AND deleted_at IS NULL" +
          (for_update ? ForUpdate(tx) : ""),
      {organization_id, id}, [&](const store::RowView& row) {
        found = WebhookOfRow(row);
        return Status::Ok();
      }));
  if (!found) {
    return core::NotFound("webhook not found");
  }
  return std::move(*found);
}

Result<CreatedWebhook> CreateWebhook(store::Tx& tx, const Writer& w, const WebhookRules& rules,
                                     const json::object& body) {
  CreatedWebhook created;
  Webhook& webhook = created.webhook;
  std::optional<std::string> secret;
  webhook.organization_id = w.organization_id;
  LW_RETURN_IF_ERROR(ApplyWebhookBody(tx, rules, body, WriteMode::kCreate, webhook, &secret));
  // Creations in one organization take turns (the organization's row lock on PostgreSQL), so
  // two at once cannot both pass the limit.
  LW_RETURN_IF_ERROR(
      tx.Query("SELECT id FROM organizations WHERE id = $1" + ForUpdate(tx), {w.organization_id})
          .status());
  LW_ASSIGN_OR_RETURN(store::Rows count,
                      tx.Query("SELECT COUNT(*) AS n FROM webhooks WHERE organization_id = $1 "
                               "AND deleted_at IS NULL",
                               {w.organization_id}));
  if (count[0].Int("n") >= rules.max_per_org) {
    return Status::ConflictOf("limit-reached", "this organization already has " +
                                                   std::to_string(rules.max_per_org) +
                                                   " webhooks (max_webhooks_per_org)");
  }
  webhook.id = w.ids->New("wh");
  webhook.created_at = webhook.updated_at = w.Now();
  const std::string key = NewKeyFor(webhook, secret);
  LW_RETURN_IF_ERROR(Save(tx, webhook, true));
  LW_RETURN_IF_ERROR(InsertSecret(tx, webhook.id, key, webhook.created_at));
  if (webhook.signature_scheme != "ed25519") {
    created.secret = key;
  }
  return created;
}

Result<int64_t> CancelScheduled(store::Tx& tx, const std::string& webhook_id, int64_t now) {
  return tx.Exec(
      "UPDATE deliveries SET state = 'canceled', next_attempt_at = NULL, finished_at = $2, "
      "updated_at = $2 WHERE webhook_id = $1 AND state = 'scheduled' AND test = 0",
      {webhook_id, now});
}

Result<Webhook> UpdateWebhook(store::Tx& tx, const Writer& w, const WebhookRules& rules,
                              const std::string& id, const json::object& body, WriteMode mode) {
  Result<Webhook> found = GetWebhook(tx, w.organization_id, id, true);
  if (!found.ok()) {
    // A body that is invalid on its own is a 422 even for an unknown id (API.md check order).
    Webhook blank;
    blank.organization_id = w.organization_id;
    LW_RETURN_IF_ERROR(ApplyWebhookBody(tx, rules, body, mode, blank, nullptr));
    return found.status();
  }
  Webhook webhook = std::move(found).value();
  const Webhook before = webhook;
  const bool was_active = webhook.active;
  LW_RETURN_IF_ERROR(ApplyWebhookBody(tx, rules, body, mode, webhook, nullptr));
  if (SameSettings(before, webhook)) {
    return before;  // nothing changed: no write, updated_at stays
  }
  const int64_t now = w.Now();
  if (was_active && !webhook.active) {
    webhook.deactivate_reason = "manual";
    LW_RETURN_IF_ERROR(CancelScheduled(tx, webhook.id, now).status());
  } else if (webhook.active) {
    webhook.deactivate_reason.reset();
  }
  webhook.updated_at = now;
  if (webhook.signature_scheme != before.signature_scheme) {
    // A new key pair or secret of the new scheme signs from now on; the old one signs beside it
    // for the default overlap, so receivers can switch without losing a delivery.
    const std::string key = NewKeyFor(webhook);
    LW_RETURN_IF_ERROR(ReplaceCurrentKey(tx, webhook.id, key, now, now + kDefaultOverlapS * 1000));
  }
  LW_RETURN_IF_ERROR(Save(tx, webhook, false));
  return webhook;
}

Status DeleteWebhook(store::Tx& tx, const Writer& w, const std::string& id) {
  const int64_t now = w.Now();
  LW_ASSIGN_OR_RETURN(int64_t changed,
                      tx.Exec("UPDATE webhooks SET deleted_at = $3, active = 0, updated_at = $3 "
                              "WHERE organization_id = $1 AND id = $2 AND deleted_at IS NULL",
                              {w.organization_id, id, now}));
  if (changed == 0) {
    return core::NotFound("webhook not found");
  }
  return CancelScheduled(tx, id, now).status();
}

Result<std::vector<StoredSecret>> SigningSecrets(store::Tx& tx, const std::string& webhook_id,
                                                 int64_t now) {
  LW_ASSIGN_OR_RETURN(store::Rows rows,
                      tx.Query("SELECT secret, created_at, expires_at FROM webhook_secrets "
                               "WHERE webhook_id = $1 AND (expires_at IS NULL OR expires_at > $2) "
                               "ORDER BY expires_at IS NOT NULL, seq DESC",
                               {webhook_id, now}));
  std::vector<StoredSecret> out;
  for (std::size_t i = 0; i < rows.size(); ++i) {
    out.push_back({rows[i].Str("secret"), rows[i].Int("created_at"), rows[i].OptInt("expires_at")});
  }
  return out;
}

Result<RotatedSecret> RotateSecret(store::Tx& tx, const Writer& w, const std::string& id,
                                   int64_t overlap_s) {
  LW_ASSIGN_OR_RETURN(Webhook webhook, GetWebhook(tx, w.organization_id, id, true));
  const int64_t now = w.Now();
  RotatedSecret rotated;
  const std::string key = NewKeyFor(webhook);
  rotated.previous_expires_at = now + overlap_s * 1000;
  if (webhook.public_key) {
    rotated.public_key = webhook.public_key;
  } else {
    rotated.secret = key;
  }
  LW_RETURN_IF_ERROR(ReplaceCurrentKey(tx, webhook.id, key, now, rotated.previous_expires_at));
  LW_RETURN_IF_ERROR(tx.Exec("UPDATE webhooks SET updated_at = $2, public_key = $3 WHERE id = $1",
                             {webhook.id, now, webhook.public_key})
                         .status());
  return rotated;
}

}  // namespace learnwire::delivery
