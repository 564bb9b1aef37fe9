// Subscriptions ("webhooks", WEBHOOKS.md §1): the stored model, its input rules, rendering, and
// the writes that keep deliveries consistent with it (deactivating or deleting cancels what is
// scheduled). Stateless functions over a store::Tx; the caller owns the transaction.
#pragma once

#include <boost/json/object.hpp>
#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "core/clock.h"
#include "core/ids.h"
#include "core/status.h"
#include "delivery/retry_policy.h"
#include "delivery/url_guard.h"
#include "store/store.h"

namespace learnwire::delivery {

inline constexpr std::size_t kMaxCustomHeaders = 20;
inline constexpr std::size_t kMaxHeaderValueBytes = 4096;
inline constexpr int64_t kDefaultOverlapS = 86'400;
inline constexpr int64_t kMaxOverlapS = 604'800;
inline constexpr std::size_t kMaxPreviousSecrets = 5;  // old secrets still signing, at most
// How write-only values (the basic-auth password, header values) read back; sending it keeps
// the stored value (API.md "Requests").
inline constexpr const char* kWriteOnlyValue = "********";

// What the configuration says about subscriptions.
struct WebhookRules {
  int max_per_org = 50;
  GuardConfig guard;
  Resolver resolve;  // SystemResolver() in production
};

// Who writes: the organization, ids and time.
struct Writer {
  core::IdGenerator* ids;
  const core::Clock* clock;
  std::string organization_id;

  int64_t Now() const { return core::ToUnixMs(clock->Now()); }
};

struct Webhook {
  std::string id;
  std::string organization_id;
  std::string name;
  std::string url;
  std::optional<std::string> description;
  bool active = true;
  std::optional<std::string> deactivate_reason;
  std::vector<std::string> event_types;
  boost::json::object filters;  // only the keys given, each a non-empty id array
  std::optional<std::string> basic_auth_username;
  std::optional<std::string> basic_auth_password;
  std::vector<std::pair<std::string, std::string>> headers;  // names as given
  std::string signature_scheme = "hmac-sha256";
  std::optional<std::string> public_key;  // ed25519: "whpk_…" of the current key pair
  bool legacy_signature = true;
  RetryPolicy retry_policy;
  std::optional<int> rate_limit_per_s;
  bool ordered = false;
  std::optional<int64_t> last_success_at;
  int64_t created_at = 0;
  int64_t updated_at = 0;
};

// The response shape: write-only values (the password, header values) read "********".
boost::json::object RenderWebhook(const Webhook& webhook);

// Resolves the host of the body's `url` now, outside any transaction (a slow DNS answer must not
// hold the database's write lock), and returns rules whose resolver answers that host from what
// it got (and fails for any other). Without a name to resolve, the rules as they are.
WebhookRules WithUrlResolved(const WebhookRules& rules, const boost::json::object& body);

enum class WriteMode { kCreate, kReplace, kPatch };

// Applies a request body onto `webhook` (defaults first for create and replace), checking every
// rule of §1; collects all field errors into one Invalid status. Ids named in `filters` are
// checked against the organization's data in `tx`.
core::Status ApplyWebhookBody(store::Tx& tx, const WebhookRules& rules,
                              const boost::json::object& body, WriteMode mode, Webhook& webhook,
                              std::optional<std::string>* secret);

struct CreatedWebhook {
  Webhook webhook;
  std::string secret;  // hmac-sha256: shown once (ed25519 shows webhook.public_key instead)
};

core::Result<CreatedWebhook> CreateWebhook(store::Tx& tx, const Writer& w,
                                           const WebhookRules& rules,
                                           const boost::json::object& body);
// `for_update`: lock the row until the transaction ends (PostgreSQL), for read-then-write.
core::Result<Webhook> GetWebhook(store::Tx& tx, const std::string& organization_id,
                                 const std::string& id, bool for_update = false);
// PUT (kReplace) or PATCH (kPatch). Setting active=false cancels the scheduled deliveries and
// records deactivate_reason "manual"; active=true clears it.
core::Result<Webhook> UpdateWebhook(store::Tx& tx, const Writer& w, const WebhookRules& rules,
                                    const std::string& id, const boost::json::object& body,
                                    WriteMode mode);
// Soft-deletes and cancels the scheduled deliveries.
core::Status DeleteWebhook(store::Tx& tx, const Writer& w, const std::string& id);

// Marks every scheduled delivery of the subscription canceled (in-flight ones keep their lease
// so their result is still recorded); returns how many.
core::Result<int64_t> CancelScheduled(store::Tx& tx, const std::string& webhook_id, int64_t now);

// The columns WebhookOfRow reads, in order, for lists.
extern const char* const kWebhookColumns;
Webhook WebhookOfRow(const store::RowView& row);

// Signing keys: the current one first, then the previous ones still signing. A scheme change
// (PUT/PATCH signature_scheme) makes a key of the new scheme current and lets the old one sign
// for kDefaultOverlapS more.
struct StoredSecret {
  std::string secret;  // whsec_… (hmac-sha256) or whsk_… (an ed25519 private key)
  int64_t created_at = 0;
  std::optional<int64_t> expires_at;  // null for the current one
};
core::Result<std::vector<StoredSecret>> SigningSecrets(store::Tx& tx, const std::string& webhook_id,
                                                       int64_t now);
// Makes a new current secret or key pair (of the subscription's scheme); the old one signs for
// `overlap_s` more seconds. Keeps at most
// kMaxPreviousSecrets old ones signing (older ones expire at once). Returns the new secret and when
// the previous one expires.
struct RotatedSecret {
  std::optional<std::string> secret;      // hmac-sha256
  std::optional<std::string> public_key;  // ed25519
  int64_t previous_expires_at = 0;
};
core::Result<RotatedSecret> RotateSecret(store::Tx& tx, const Writer& w, const std::string& id,
                                         int64_t overlap_s);

}  // namespace learnwire::delivery
