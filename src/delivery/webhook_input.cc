// The input rules of a subscription (WEBHOOKS.md §1): every field checked, every error collected
// into one 422 with the field's path.
#include <openssl/crypto.h>

#include <algorithm>
#include <boost/json.hpp>
#include <set>

#include "core/text.h"
#include "core/time_format.h"
#include "delivery/signer.h"
#include "delivery/webhooks.h"
#include "events/matching.h"

namespace learnwire::delivery {
namespace json = boost::json;
using core::FieldError;
using core::Status;

namespace {

constexpr std::size_t kMaxNameChars = 200;
constexpr std::size_t kMaxDescriptionChars = 10'000;
constexpr std::size_t kMaxUsernameChars = 200;
constexpr std::size_t kMaxPasswordChars = 1'000;

// Headers Learnwire sets itself or that would break HTTP framing (compared lower case);
// `authorization` is reserved only while basic_auth is set.
const std::set<std::string>& ReservedHeaders() {
  static const std::set<std::string> kReserved = {"content-type",
                                                  "user-agent",
                                                  "webhook-id",
                                                  "webhook-timestamp",
                                                  "webhook-signature",
                                                  "x-learnwire-signature",
                                                  "x-learnwire-event",
                                                  "x-learnwire-attempt",
                                                  "x-learnwire-delivery",
                                                  "host",
                                                  "content-length",
                                                  "transfer-encoding",
                                                  "connection",
                                                  "te",
                                                  "upgrade",
                                                  "expect"};
  return kReserved;
}

// RFC 9110 §5.6.2 token.
bool IsToken(const std::string& s) {
  static const std::string kSpecials = "!#$%&'*+-.^_`|~";
  return !s.empty() && std::all_of(s.begin(), s.end(), [](unsigned char c) {
    return std::isalnum(c) || kSpecials.find(static_cast<char>(c)) != std::string::npos;
  });
}

// Visible ASCII, space and horizontal tab.
bool IsHeaderValue(const std::string& s) {
  return std::all_of(s.begin(), s.end(),
                     [](unsigned char c) { return (c >= 0x20 && c <= 0x7e) || c == '\t'; });
}

// The tables that hold each filter's ids. Groups, departments, courses and paths arrive with
// the LMS core (issue 6); until then no such id exists, so naming one is an unknown id.
struct FilterKind {
  const char* key;
  const char* noun;
  const char* table;  // null: the resource does not exist yet
};
constexpr FilterKind kFilterKinds[] = {
    {"group_ids", "group", nullptr},
    {"department_ids", "department", nullptr},
    {"course_ids", "course", nullptr},
    {"path_ids", "learning path", nullptr},
};

core::Result<bool> ActorExists(store::Tx& tx, const std::string& organization_id,
                               const std::string& id) {
  const char* table = id.rfind("key_", 0) == 0   ? "api_keys"
                      : id.rfind("usr_", 0) == 0 ? "users"
                                                 : nullptr;
  if (!table) {
    return false;
  }
  LW_ASSIGN_OR_RETURN(store::Rows rows, tx.Query(std::string("SELECT 1 AS found FROM ") + table +
                                                     " WHERE organization_id = $1 AND id = $2",
                                                 {organization_id, id}));
  return !rows.empty();
}

class BodyReader {
 public:
  BodyReader(store::Tx& tx, const WebhookRules& rules, const json::object& body, WriteMode mode,
             Webhook& w)
      : tx_(tx), rules_(rules), body_(body), mode_(mode), w_(w) {}

  Status Apply(std::optional<std::string>* secret) {
    CheckKnownFields();
    if (mode_ != WriteMode::kPatch) {
      ResetOptional();
    }
    Name();
    Url();
    Description();
    Bool("active", w_.active);
    Bool("legacy_signature", w_.legacy_signature);
    EventTypes();
    LW_RETURN_IF_ERROR(Filters());
    BasicAuth();
    Headers();
    SignatureScheme();
    Secret(secret);
    RetryPolicyField();
    FlowFields();
    if (!errors_.empty()) {
      return Status::Invalid(std::move(errors_));
    }
    return Status::Ok();
  }

 private:
  void Error(std::string field, std::string message) {
    errors_.push_back({std::move(field), std::move(message)});
  }
  const json::value* Get(const char* k) const { return body_.if_contains(k); }

  void CheckKnownFields() {
    static const std::set<std::string> kWritable = {"name",
                                                    "url",
                                                    "description",
                                                    "active",
                                                    "event_types",
                                                    "filters",
                                                    "basic_auth",
                                                    "headers",
                                                    "signature_scheme",
                                                    "secret",
                                                    "legacy_signature",
                                                    "retry_policy",
                                                    "rate_limit_per_s",
                                                    "ordered"};
    static const std::set<std::string> kReadOnly = {"id", "deactivate_reason", "public_key",
                                                    "created_at", "updated_at"};
    // On create, a read-only field is accepted when it holds what a new webhook will have.
    json::object current = mode_ == WriteMode::kCreate
                               ? json::object{{"deactivate_reason", nullptr}}
                               : RenderWebhook(w_);
    for (const auto& kv : body_) {
      std::string k(kv.key());
      if (kWritable.count(k)) {
        continue;
      }
      if (!kReadOnly.count(k)) {
        Error(k, "is not a field of a webhook");
      } else if (const json::value* have = current.if_contains(k); !have || *have != kv.value()) {
        Error(k, "is read-only");
      }
    }
  }

  void ResetOptional() {
    Webhook fresh;
    w_.description.reset();
    w_.active = true;
    w_.event_types.clear();
    w_.filters.clear();
    keep_headers_.swap(w_.headers);
    keep_password_ = w_.basic_auth_password;
    w_.basic_auth_username.reset();
    w_.basic_auth_password.reset();
    w_.signature_scheme = fresh.signature_scheme;
    w_.legacy_signature = true;
    w_.retry_policy = RetryPolicy();
    w_.rate_limit_per_s.reset();
    w_.ordered = false;
  }

  void Name() {
    const json::value* v = Get("name");
    if (!v) {
      if (mode_ != WriteMode::kPatch) {
        Error("name", "is required");
      }
      return;
    }
    if (!v->is_string()) {
      return Error("name", "must be a string");
    }
    std::string s(v->get_string());
    if (auto why = core::CheckText(s, kMaxNameChars, false)) {
      return Error("name", *why);
    }
    w_.name = std::move(s);
  }

  void Url() {
    const json::value* v = Get("url");
    if (!v) {
      if (mode_ != WriteMode::kPatch) {
        Error("url", "is required");
      }
      return;
    }
    if (!v->is_string()) {
      return Error("url", "must be a string");
    }
    std::string url(v->get_string());
    Status checked = CheckUrlAtSave(url, rules_.guard, rules_.resolve);
    if (!checked.ok()) {
      for (const FieldError& e : checked.fields()) {
        Error(e.field, e.message);
      }
      if (checked.fields().empty()) {
        Error("url", checked.message());
      }
      return;
    }
    w_.url = std::move(url);
  }

  void Description() {
    const json::value* v = Get("description");
    if (!v) {
      return;
    }
    if (v->is_null()) {
      w_.description.reset();
      return;
    }
    if (!v->is_string()) {
      return Error("description", "must be a string or null");
    }
    std::string s(v->get_string());
    if (auto why = core::CheckText(s, kMaxDescriptionChars, true)) {
      return Error("description", *why);
    }
    w_.description = std::move(s);
  }

  void Bool(const char* k, bool& field) {
    if (const json::value* v = Get(k)) {
      if (!v->is_bool()) {
        return Error(k, "must be true or false");
      }
      field = v->get_bool();
    }
  }

  void EventTypes() {
    const json::value* v = Get("event_types");
    if (!v) {
      return;
    }
    w_.event_types.clear();
    if (v->is_null()) {
      return;
    }
    if (!v->is_array()) {
      return Error("event_types", "must be an array of event types");
    }
    const json::array& a = v->get_array();
    for (std::size_t i = 0; i < a.size(); ++i) {
      std::string field = "event_types[" + std::to_string(i) + "]";
      if (!a[i].is_string()) {
        Error(field, "must be a string");
        continue;
      }
      std::string t(a[i].get_string());
      if (!events::IsValidTypePattern(t)) {
        Error(field,
              "\"" + t + "\" is not an event type, a family such as \"learner.*\", or \"*\"");
        continue;
      }
      if (std::find(w_.event_types.begin(), w_.event_types.end(), t) == w_.event_types.end()) {
        w_.event_types.push_back(std::move(t));
      }
    }
  }

  Status Filters() {
    const json::value* v = Get("filters");
    if (!v) {
      return Status::Ok();
    }
    w_.filters.clear();
    if (v->is_null()) {
      return Status::Ok();
    }
    if (!v->is_object()) {
      Error("filters", "must be an object");
      return Status::Ok();
    }
    for (const auto& kv : v->get_object()) {
      std::string key(kv.key());
      std::string field = "filters." + key;
      const FilterKind* kind = nullptr;
      for (const FilterKind& k : kFilterKinds) {
        if (key == k.key) {
          kind = &k;
        }
      }
      if (!kind && key != "exclude_actor_ids") {
        Error(field,
              "is not a filter (group_ids, department_ids, course_ids, path_ids, "
              "exclude_actor_ids)");
        continue;
      }
      if (!kv.value().is_array()) {
        Error(field, "must be an array of ids");
        continue;
      }
      json::array ids;
      const json::array& given = kv.value().get_array();
      for (std::size_t i = 0; i < given.size(); ++i) {
        std::string item_field = field + "[" + std::to_string(i) + "]";
        if (!given[i].is_string()) {
          Error(item_field, "must be a string");
          continue;
        }
        std::string id(given[i].get_string());
        bool exists = false;
        if (kind) {
          exists = kind->table != nullptr;  // no such resource exists yet (see kFilterKinds)
        } else {
          LW_ASSIGN_OR_RETURN(exists, ActorExists(tx_, w_.organization_id, id));
        }
        if (!exists) {
          Error(item_field,
                kind ? "no " + std::string(kind->noun) + " " + id + " in this organization"
                     : "no API key or user " + id + " in this organization");
          continue;
        }
        if (std::find(ids.begin(), ids.end(), json::value(id)) == ids.end()) {
          ids.emplace_back(id);
        }
      }
      if (!ids.empty()) {
        w_.filters[key] = std::move(ids);
      }
    }
    return Status::Ok();
  }

  void BasicAuth() {
    const json::value* v = Get("basic_auth");
    if (!v) {
      if (mode_ == WriteMode::kPatch) {
        keep_password_ = w_.basic_auth_password;
      }
      return;
    }
    std::optional<std::string> old_password =
        mode_ == WriteMode::kPatch ? w_.basic_auth_password : keep_password_;
    w_.basic_auth_username.reset();
    w_.basic_auth_password.reset();
    if (v->is_null()) {
      return;
    }
    if (!v->is_object()) {
      return Error("basic_auth", "must be an object {username, password} or null");
    }
    const json::object& o = v->get_object();
    for (const auto& kv : o) {
      if (kv.key() != "username" && kv.key() != "password") {
        Error("basic_auth." + std::string(kv.key()), "is not a field of basic_auth");
      }
    }
    const json::value* user = o.if_contains("username");
    if (!user || !user->is_string()) {
      Error("basic_auth.username", "is required and must be a string");
    } else {
      std::string u(user->get_string());
      if (auto why = core::CheckText(u, kMaxUsernameChars, false)) {
        Error("basic_auth.username", *why);
      } else if (u.find(':') != std::string::npos) {
        Error("basic_auth.username", "may not contain ':' (RFC 7617)");
      } else {
        w_.basic_auth_username = u;
      }
    }
    const json::value* pass = o.if_contains("password");
    if (!pass) {
      // Write-only: an edit that does not resend it keeps the stored one.
      if (!old_password) {
        Error("basic_auth.password", "is required");
      }
      w_.basic_auth_password = old_password;
    } else if (!pass->is_string()) {
      Error("basic_auth.password", "must be a string");
    } else if (pass->get_string() == kWriteOnlyValue) {
      // The value GET shows: keep the stored password.
      if (!old_password) {
        Error("basic_auth.password", "has no stored value to keep");
      }
      w_.basic_auth_password = old_password;
    } else if (auto why =
                   core::CheckText(std::string(pass->get_string()), kMaxPasswordChars, true)) {
      Error("basic_auth.password", *why);
    } else {
      w_.basic_auth_password = std::string(pass->get_string());
    }
  }

  void Headers() {
    const json::value* v = Get("headers");
    std::vector<std::pair<std::string, std::string>> previous =
        mode_ == WriteMode::kPatch ? w_.headers : keep_headers_;
    if (!v) {
      if (mode_ == WriteMode::kPatch) {
        CheckAuthorizationHeader();
      }
      return;
    }
    w_.headers.clear();
    if (v->is_null()) {
      return;
    }
    if (!v->is_object()) {
      return Error("headers", "must be an object of header names to values");
    }
    const json::object& o = v->get_object();
    if (o.size() > kMaxCustomHeaders) {
      return Error("headers", "may hold at most 20 headers");
    }
    std::set<std::string> seen;
    for (const auto& kv : o) {
      std::string name(kv.key());
      std::string lower = core::LowerAscii(name);
      std::string field = "headers." + name;
      if (!IsToken(name)) {
        Error(field, "is not a valid header name (RFC 9110 token)");
        continue;
      }
      if (ReservedHeaders().count(lower) || lower.rfind("proxy-", 0) == 0) {
        Error(field, "is reserved: Learnwire sets it or it controls the connection");
        continue;
      }
      if (!seen.insert(lower).second) {
        Error(field, "is given twice (names are case-insensitive)");
        continue;
      }
      std::optional<std::string> value;
      if (!kv.value().is_string()) {
        Error(field, "must be a string");
        continue;
      }
      if (kv.value().get_string() == kWriteOnlyValue) {
        // Values are write-only and read back as "********": sending that keeps the stored one.
        for (const auto& [old_name, old_value] : previous) {
          if (core::LowerAscii(old_name) == lower) {
            value = old_value;
          }
        }
        if (!value) {
          Error(field, "has no stored value to keep");
          continue;
        }
      } else {
        value = std::string(kv.value().get_string());
        if (value->size() > kMaxHeaderValueBytes) {
          Error(field, "must be at most 4096 bytes");
          continue;
        }
        if (!IsHeaderValue(*value)) {
          Error(field, "may hold visible ASCII characters, spaces and tabs only");
          continue;
        }
        if (value->find_first_not_of(" \t") == std::string::npos) {
          // An empty value cannot be sent (HTTP clients drop such a header).
          Error(field, "needs a value with at least one visible character");
          continue;
        }
      }
      w_.headers.emplace_back(name, *value);
    }
    CheckAuthorizationHeader();
  }

  void CheckAuthorizationHeader() {
    if (!w_.basic_auth_username) {
      return;
    }
    for (const auto& [name, value] : w_.headers) {
      if (core::LowerAscii(name) == "authorization") {
        Error("headers." + name, "is reserved while basic_auth is set");
      }
    }
  }

  void SignatureScheme() {
    const json::value* v = Get("signature_scheme");
    if (!v) {
      return;
    }
    if (!v->is_string() || (v->get_string() != "hmac-sha256" && v->get_string() != "ed25519")) {
      return Error("signature_scheme", "must be \"hmac-sha256\" or \"ed25519\"");
    }
    w_.signature_scheme = std::string(v->get_string());
  }

  void Secret(std::optional<std::string>* secret) {
    const json::value* v = Get("secret");
    if (!v) {
      return;
    }
    if (mode_ != WriteMode::kCreate || !secret) {
      // Read-only after create: accepted only when it is the current secret.
      std::optional<std::string> current = CurrentSecret();
      if (v->is_string() && current && current->size() == v->get_string().size() &&
          CRYPTO_memcmp(current->data(), v->get_string().data(), current->size()) == 0) {
        return;
      }
      return Error(
          "secret",
          "is read-only: set it on create, or use POST /api/v1/webhooks/{id}/rotate-secret");
    }
    if (w_.signature_scheme == "ed25519") {
      return Error("secret",
                   "an ed25519 subscription signs with a key pair the server makes; leave secret "
                   "out (the response shows its public_key)");
    }
    if (!v->is_string()) {
      return Error("secret", "must be a string");
    }
    auto decoded = DecodeSecret(std::string(v->get_string()));
    if (!decoded.ok()) {
      for (const FieldError& e : decoded.status().fields()) {
        Error(e.field, e.message);
      }
      if (decoded.status().fields().empty()) {
        Error("secret", decoded.status().message());
      }
      return;
    }
    *secret = std::string(v->get_string());
  }

  void RetryPolicyField() {
    const json::value* v = Get("retry_policy");
    if (!v) {
      return;
    }
    auto policy = ParseRetryPolicy(v);
    if (!policy.ok()) {
      for (const FieldError& e : policy.status().fields()) {
        Error(e.field, e.message);
      }
      if (policy.status().fields().empty()) {
        Error("retry_policy", policy.status().message());
      }
      return;
    }
    w_.retry_policy = std::move(policy).value();
  }

  std::optional<std::string> CurrentSecret() {
    auto rows = tx_.Query(
        "SELECT secret FROM webhook_secrets WHERE webhook_id = $1 AND expires_at IS NULL", {w_.id});
    if (!rows.ok() || rows->empty()) {
      return std::nullopt;
    }
    return (*rows)[0].Str("secret");
  }

  void FlowFields() {
    if (const json::value* v = Get("rate_limit_per_s")) {
      if (v->is_null()) {
        w_.rate_limit_per_s.reset();
      } else if (!v->is_int64() || v->get_int64() < 1 || v->get_int64() > 10'000) {
        Error("rate_limit_per_s", "must be an integer from 1 to 10000, or null");
      } else {
        w_.rate_limit_per_s = static_cast<int>(v->get_int64());
      }
    }
    Bool("ordered", w_.ordered);
  }

 private:
  store::Tx& tx_;
  const WebhookRules& rules_;
  const json::object& body_;
  WriteMode mode_;
  Webhook& w_;
  std::vector<FieldError> errors_;
  std::vector<std::pair<std::string, std::string>> keep_headers_;
  std::optional<std::string> keep_password_;
};

}  // namespace

Status ApplyWebhookBody(store::Tx& tx, const WebhookRules& rules, const json::object& body,
                        WriteMode mode, Webhook& webhook, std::optional<std::string>* secret) {
  BodyReader reader(tx, rules, body, mode, webhook);
  return reader.Apply(secret);
}

}  // namespace learnwire::delivery
