// Identity: organizations, administrators and API keys. Keys are `lw_<id>_<secret>`: the id is
// stored in clear, the secret only as a SHA-256, compared in constant time; a key is shown once.
// Free functions over a store::Tx, plus a bounded password hasher. Thread-safe.
#pragma once

#include <cstdint>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "core/clock.h"
#include "core/ids.h"
#include "core/status.h"
#include "core/text.h"
#include "events/fanout.h"
#include "store/store.h"

namespace learnwire::domain {

enum class Scope { kRead, kWrite, kWebhooks, kAdmin };
std::string ScopeName(Scope s);
std::optional<Scope> ParseScope(const std::string& name);
std::vector<std::string> ScopeNames(const std::set<Scope>& scopes);
inline std::set<Scope> AllScopes() {
  return {Scope::kRead, Scope::kWrite, Scope::kWebhooks, Scope::kAdmin};
}
inline std::set<Scope> DefaultScopes() { return {Scope::kRead, Scope::kWrite, Scope::kWebhooks}; }

struct Organization {
  std::string id;
  std::string name;
  bool disabled = false;
  int64_t created_at = 0;
  int64_t updated_at = 0;
};

struct ApiKey {
  std::string id;  // "key_<26>"
  std::string organization_id;
  std::string name;
  std::set<Scope> scopes;
  int64_t created_at = 0;
  int64_t updated_at = 0;
  std::optional<int64_t> expires_at;
  std::optional<int64_t> revoked_at;
  std::optional<int64_t> last_used_at;
};

struct CreatedKey {
  ApiKey key;
  std::string secret_key;  // the whole "lw_<id>_<secret>", shown once
};

// A generated administrator password and its argon2id hash. Made before the transaction that
// stores it: hashing takes tens of milliseconds and must not hold the write lock.
struct AdminSecret {
  std::string password;  // shown once
  std::string hash;
};
core::Result<AdminSecret> NewAdminSecret();

struct CreatedOrganization {
  Organization organization;
  std::string admin_email;
  CreatedKey first_key;  // all four scopes
};

struct Deps {
  core::IdGenerator* ids;
  const core::Clock* clock;
  events::DeliveryListener* listener = nullptr;  // woken after commits that schedule deliveries
};

// Validates the email rule of API.md; returns the message for a bad one.
std::optional<std::string> CheckEmail(const std::string& email);
using core::LowerAscii;

core::Result<CreatedOrganization> CreateOrganization(store::Tx& tx, const Deps& deps,
                                                     const std::string& name,
                                                     const std::string& admin_email,
                                                     const AdminSecret& admin_secret);
core::Result<std::vector<Organization>> ListOrganizations(store::Tx& tx);
core::Status SetOrganizationDisabled(store::Tx& tx, const Deps& deps, const std::string& id,
                                     bool disabled);

core::Result<CreatedKey> CreateKey(store::Tx& tx, const Deps& deps,
                                   const std::string& organization_id, const std::string& name,
                                   const std::set<Scope>& scopes,
                                   std::optional<int64_t> expires_at);
core::Result<ApiKey> GetKey(store::Tx& tx, const std::string& organization_id,
                            const std::string& key_id);
// Keys of an organization with id > after (revoked ones left out), oldest first.
core::Result<std::vector<ApiKey>> ListKeys(store::Tx& tx, const std::string& organization_id,
                                           const std::string& after_id, int limit);
core::Status RevokeKey(store::Tx& tx, const Deps& deps, const std::string& organization_id,
                       const std::string& key_id);

// A presented "lw_<id>_<secret>" split in two, or nullopt when malformed.
struct PresentedKey {
  std::string key_id;  // "key_<id>"
  std::string secret;
};
std::optional<PresentedKey> ParsePresentedKey(const std::string& presented);

// What authentication needs to know of a stored key.
struct KeyRecord {
  ApiKey key;
  std::string secret_hash;  // hex SHA-256 of the secret
  bool organization_disabled = false;
};
// kNotFound when no key has this id.
core::Result<KeyRecord> LoadKeyRecord(store::Tx& tx, const std::string& key_id);
// The checks of a presented secret against a record: the SHA-256 compared in constant time,
// then revocation, expiry and the organization. kUnauthenticated on any failure.
core::Result<ApiKey> CheckKey(const KeyRecord& record, const std::string& secret, int64_t now_ms);

// ParsePresentedKey + LoadKeyRecord + CheckKey. kUnauthenticated for anything malformed,
// unknown, revoked, expired or belonging to a disabled organization. Never logs the secret.
core::Result<ApiKey> Authenticate(store::Tx& tx, const core::Clock& clock,
                                  const std::string& presented);
core::Status TouchKey(store::Tx& tx, const ApiKey& key, int64_t now_ms);

// argon2id (m = 19 MiB, t = 2, p = 1); at most 4 hashes computed at once in this process.
core::Result<std::string> HashPassword(const std::string& password);
bool VerifyPassword(const std::string& encoded, const std::string& password);

// Stores a new password (its hash) for the user with this email.
core::Status ResetPassword(store::Tx& tx, const Deps& deps, const std::string& email,
                           const AdminSecret& secret);

}  // namespace learnwire::domain
