#include "domain/identity.h"

#include <argon2.h>
#include <openssl/crypto.h>

#include <condition_variable>
#include <cstring>
#include <mutex>

#include "core/random.h"
#include "domain/common.h"

namespace learnwire::domain {
namespace {

using core::Result;
using core::Status;

constexpr std::size_t kKeySecretLength = 43;

std::string JoinScopes(const std::set<Scope>& scopes) {
  std::string out;
  for (const auto& n : ScopeNames(scopes)) {
    out += (out.empty() ? "" : ",") + n;
  }
  return out;
}

std::set<Scope> SplitScopes(const std::string& s) {
  std::set<Scope> out;
  std::size_t start = 0;
  while (start < s.size()) {
    std::size_t comma = s.find(',', start);
    std::string item = s.substr(start, comma == std::string::npos ? comma : comma - start);
    if (auto sc = ParseScope(item)) {
      out.insert(*sc);
    }
    if (comma == std::string::npos) {
      break;
    }
    start = comma + 1;
  }
  return out;
}

ApiKey KeyFromRow(const store::Rows::Row& r) {
  ApiKey k;
  k.id = r.Str("id");
  k.organization_id = r.Str("organization_id");
  k.name = r.Str("name");
  k.scopes = SplitScopes(r.Str("scopes"));
  k.created_at = r.Int("created_at");
  k.updated_at = r.Int("updated_at");
  k.expires_at = r.OptInt("expires_at");
  k.revoked_at = r.OptInt("revoked_at");
  k.last_used_at = r.OptInt("last_used_at");
  return k;
}

constexpr const char* kKeyColumns =
    "id, organization_id, name, scopes, created_at, updated_at, expires_at, revoked_at, "
    "last_used_at";

// Bounds concurrent argon2 work: each hash holds 19 MiB and a core for tens of milliseconds.
class HashSlots {
 public:
  void Acquire() {
    std::unique_lock lock(mu_);
    cv_.wait(lock, [&] { return free_ > 0; });
    --free_;
  }
  void Release() {
    {
      std::lock_guard lock(mu_);
      ++free_;
    }
    cv_.notify_one();
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  int free_ = 4;
};

HashSlots& Slots() {
  static HashSlots slots;
  return slots;
}

}  // namespace

std::string ScopeName(Scope s) {
  switch (s) {
    case Scope::kRead:
      return "read";
    case Scope::kWrite:
      return "write";
    case Scope::kWebhooks:
      return "webhooks";
    case Scope::kAdmin:
      return "admin";
  }
  return "";
}

std::optional<Scope> ParseScope(const std::string& name) {
  for (Scope s : AllScopes()) {
    if (ScopeName(s) == name) {
      return s;
    }
  }
  return std::nullopt;
}

std::vector<std::string> ScopeNames(const std::set<Scope>& scopes) {
  std::vector<std::string> out;
  for (Scope s : scopes) {
    out.push_back(ScopeName(s));
  }
  return out;
}

// The email rule (API.md): local@domain, at most 254 characters; the local part 1-64 characters
// with no space, control character, '@', '"' or U+FFFD; the domain a hostname with a dot.
std::optional<std::string> CheckEmail(const std::string& email) {
  if (CodePoints(email) > 254) {
    return "must be at most 254 characters";
  }
  std::size_t at = email.find('@');
  if (at == std::string::npos) {
    return "must be an email address (local@domain)";
  }
  std::string local = email.substr(0, at);
  std::string domain = email.substr(at + 1);
  std::size_t local_length = CodePoints(local);
  if (local_length == 0 || local_length > 64) {
    return "the part before @ must be 1 to 64 characters";
  }
  if (HasControl(local) || local.find_first_of(" \"@") != std::string::npos) {
    return "the part before @ may not contain spaces, control characters, '@' or '\"'";
  }
  if (local.find("\xEF\xBF\xBD") != std::string::npos) {
    return "the part before @ may not contain U+FFFD";
  }
  if (domain.empty() || domain.size() > 253 || domain.find('.') == std::string::npos) {
    return "the domain must be a hostname with at least one dot";
  }
  std::size_t start = 0;
  while (start <= domain.size()) {
    std::size_t dot = domain.find('.', start);
    std::string label = domain.substr(start, dot == std::string::npos ? dot : dot - start);
    if (label.empty() || label.size() > 63 || label.front() == '-' || label.back() == '-') {
      return "the domain must be a hostname with at least one dot";
    }
    for (unsigned char c : label) {
      bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                c == '-' || c >= 0x80;  // internationalized labels pass through as UTF-8
      if (!ok) {
        return "the domain must be a hostname with at least one dot";
      }
    }
    if (dot == std::string::npos) {
      break;
    }
    start = dot + 1;
  }
  return std::nullopt;
}

Result<std::string> HashPassword(const std::string& password) {
  constexpr uint32_t kTime = 2, kMemoryKib = 19 * 1024, kParallel = 1, kHashLen = 32;
  std::string salt = core::RandomBytes(16);
  std::size_t len =
      argon2_encodedlen(kTime, kMemoryKib, kParallel, salt.size(), kHashLen, Argon2_id);
  std::string encoded(len, '\0');
  Slots().Acquire();
  int rc = argon2id_hash_encoded(kTime, kMemoryKib, kParallel, password.data(), password.size(),
                                 salt.data(), salt.size(), kHashLen, encoded.data(), len);
  Slots().Release();
  if (rc != ARGON2_OK) {
    return core::Internal(std::string("argon2: ") + argon2_error_message(rc));
  }
  encoded.resize(std::strlen(encoded.c_str()));
  return encoded;
}

bool VerifyPassword(const std::string& encoded, const std::string& password) {
  Slots().Acquire();
  int rc = argon2id_verify(encoded.c_str(), password.data(), password.size());
  Slots().Release();
  return rc == ARGON2_OK;
}

Result<CreatedKey> CreateKey(store::Tx& tx, const Deps& deps, const std::string& organization_id,
                             const std::string& name, const std::set<Scope>& scopes,
                             std::optional<int64_t> expires_at) {
  std::string body = deps.ids->NewBody();
  std::string secret = core::RandomBase62(kKeySecretLength);
  int64_t now = core::ToUnixMs(deps.clock->Now());
  CreatedKey out;
  out.key.id = "key_" + body;
  out.key.organization_id = organization_id;
  out.key.name = name;
  out.key.scopes = scopes;
  out.key.created_at = now;
  out.key.updated_at = now;
  out.key.expires_at = expires_at;
  out.secret_key = "lw_" + body + "_" + secret;
  LW_RETURN_IF_ERROR(tx.Exec("INSERT INTO api_keys (id, organization_id, name, secret_hash, "
                             "scopes, created_at, updated_at, expires_at) VALUES ($1, $2, $3, "
                             "$4, $5, $6, $6, $7)",
                             {out.key.id, organization_id, name, core::Sha256Hex(secret),
                              JoinScopes(scopes), now, expires_at})
                         .status());
  return out;
}

Result<ApiKey> GetKey(store::Tx& tx, const std::string& organization_id,
                      const std::string& key_id) {
  LW_ASSIGN_OR_RETURN(store::Rows rows,
                      tx.Query(std::string("SELECT ") + kKeyColumns +
                                   " FROM api_keys WHERE organization_id = $1 AND id = $2 AND "
                                   "revoked_at IS NULL",
                               {organization_id, key_id}));
  if (rows.empty()) {
    return core::NotFound("API key not found");
  }
  return KeyFromRow(rows[0]);
}

Result<std::vector<ApiKey>> ListKeys(store::Tx& tx, const std::string& organization_id,
                                     const std::string& after_id, int limit) {
  LW_ASSIGN_OR_RETURN(store::Rows rows,
                      tx.Query(std::string("SELECT ") + kKeyColumns +
                                   " FROM api_keys WHERE organization_id = $1 AND id > $2 AND "
                                   "revoked_at IS NULL ORDER BY id LIMIT $3",
                               {organization_id, after_id, static_cast<int64_t>(limit)}));
  std::vector<ApiKey> out;
  for (std::size_t i = 0; i < rows.size(); ++i) {
    out.push_back(KeyFromRow(rows[i]));
  }
  return out;
}

Status RevokeKey(store::Tx& tx, const Deps& deps, const std::string& organization_id,
                 const std::string& key_id) {
  int64_t now = core::ToUnixMs(deps.clock->Now());
  LW_ASSIGN_OR_RETURN(int64_t changed,
                      tx.Exec("UPDATE api_keys SET revoked_at = $1, updated_at = $1 WHERE "
                              "organization_id = $2 AND id = $3 AND revoked_at IS NULL",
                              {now, organization_id, key_id}));
  return changed == 0 ? core::NotFound("API key not found") : Status::Ok();
}

std::optional<PresentedKey> ParsePresentedKey(const std::string& presented) {
  // lw_ + 26 + _ + 43
  if (presented.size() != 3 + core::kIdBodyLength + 1 + kKeySecretLength ||
      presented.compare(0, 3, "lw_") != 0 || presented[3 + core::kIdBodyLength] != '_') {
    return std::nullopt;
  }
  std::string body = presented.substr(3, core::kIdBodyLength);
  if (!core::IsCrockford(body)) {
    return std::nullopt;
  }
  return PresentedKey{"key_" + body, presented.substr(3 + core::kIdBodyLength + 1)};
}

Result<KeyRecord> LoadKeyRecord(store::Tx& tx, const std::string& key_id) {
  LW_ASSIGN_OR_RETURN(
      store::Rows rows,
      tx.Query("SELECT k.id, k.organization_id, k.name, k.scopes, k.created_at, k.updated_at, "
               "k.expires_at, k.revoked_at, k.last_used_at, k.secret_hash, o.disabled "
               "FROM api_keys k JOIN organizations o ON o.id = k.organization_id WHERE k.id = $1",
               {key_id}));
  if (rows.empty()) {
    return core::NotFound("no such key");
  }
  return KeyRecord{KeyFromRow(rows[0]), rows[0].Str("secret_hash"), rows[0].Int("disabled") != 0};
}

Result<ApiKey> CheckKey(const KeyRecord& record, const std::string& secret, int64_t now_ms) {
  const Status kBad(core::Code::kUnauthenticated, "invalid API key");
  std::string actual = core::Sha256Hex(secret);
  const std::string& expected = record.secret_hash;
  if (expected.size() != actual.size() ||
      CRYPTO_memcmp(expected.data(), actual.data(), expected.size()) != 0) {
    return kBad;
  }
  const ApiKey& key = record.key;
  if (key.revoked_at || (key.expires_at && *key.expires_at <= now_ms) ||
      record.organization_disabled) {
    return kBad;
  }
  return key;
}

Result<ApiKey> Authenticate(store::Tx& tx, const core::Clock& clock, const std::string& presented) {
  const Status kBad(core::Code::kUnauthenticated, "invalid API key");
  auto parsed = ParsePresentedKey(presented);
  if (!parsed) {
    return kBad;
  }
  auto record = LoadKeyRecord(tx, parsed->key_id);
  if (!record.ok()) {
    return record.status().code() == core::Code::kNotFound ? kBad : record.status();
  }
  return CheckKey(*record, parsed->secret, core::ToUnixMs(clock.Now()));
}

Status TouchKey(store::Tx& tx, const ApiKey& key, int64_t now_ms) {
  return tx
      .Exec("UPDATE api_keys SET last_used_at = $1 WHERE organization_id = $2 AND id = $3",
            {now_ms, key.organization_id, key.id})
      .status();
}

Result<AdminSecret> NewAdminSecret() {
  AdminSecret secret;
  secret.password = core::RandomBase62(20);
  LW_ASSIGN_OR_RETURN(secret.hash, HashPassword(secret.password));
  return secret;
}

Result<CreatedOrganization> CreateOrganization(store::Tx& tx, const Deps& deps,
                                               const std::string& name,
                                               const std::string& admin_email,
                                               const AdminSecret& admin_secret) {
  if (name.empty() || name.size() > 200) {
    return Status::Invalid("name", "must be 1 to 200 characters");
  }
  if (auto why = CheckEmail(admin_email)) {
    return Status::Invalid("admin_email", *why);
  }
  CreatedOrganization out;
  int64_t now = core::ToUnixMs(deps.clock->Now());
  out.organization = {deps.ids->New("org"), name, false, now, now};
  LW_RETURN_IF_ERROR(tx.Exec("INSERT INTO organizations (id, name, disabled, created_at, "
                             "updated_at) VALUES ($1, $2, 0, $3, $3)",
                             {out.organization.id, name, now})
                         .status());
  out.admin_email = admin_email;
  Status user = tx.Exec(
                      "INSERT INTO users (id, organization_id, email, email_lower, name, "
                      "password_hash, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, "
                      "$7, $7)",
                      {deps.ids->New("usr"), out.organization.id, admin_email,
                       FoldCase(admin_email), "Administrator", admin_secret.hash, now})
                    .status();
  if (user.code() == core::Code::kConflict) {
    return core::Conflict("a user with email " + admin_email + " already exists");
  }
  LW_RETURN_IF_ERROR(user);
  LW_ASSIGN_OR_RETURN(out.first_key, CreateKey(tx, deps, out.organization.id, "first key",
                                               AllScopes(), std::nullopt));
  return out;
}

Result<std::vector<Organization>> ListOrganizations(store::Tx& tx) {
  LW_ASSIGN_OR_RETURN(
      store::Rows rows,
      tx.Query("SELECT id, name, disabled, created_at, updated_at FROM organizations ORDER BY id"));
  std::vector<Organization> out;
  for (std::size_t i = 0; i < rows.size(); ++i) {
    out.push_back({rows[i].Str("id"), rows[i].Str("name"), rows[i].Int("disabled") != 0,
                   rows[i].Int("created_at"), rows[i].Int("updated_at")});
  }
  return out;
}

Status SetOrganizationDisabled(store::Tx& tx, const Deps& deps, const std::string& id,
                               bool disabled) {
  LW_ASSIGN_OR_RETURN(int64_t changed,
                      tx.Exec("UPDATE organizations SET disabled = $1, updated_at = $2 WHERE "
                              "id = $3",
                              {disabled, core::ToUnixMs(deps.clock->Now()), id}));
  return changed == 0 ? core::NotFound("no organization " + id) : Status::Ok();
}

Status ResetPassword(store::Tx& tx, const Deps& deps, const std::string& email,
                     const AdminSecret& secret) {
  LW_ASSIGN_OR_RETURN(int64_t changed,
                      tx.Exec("UPDATE users SET password_hash = $1, updated_at = $2 WHERE "
                              "email_lower = $3",
                              {secret.hash, core::ToUnixMs(deps.clock->Now()), FoldCase(email)}));
  return changed == 0 ? core::NotFound("no user with email " + email) : Status::Ok();
}

}  // namespace learnwire::domain
