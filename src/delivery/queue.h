// The delivery queue in the database (ARCHITECTURE.md "Claiming work without duplicates or
// starvation"): per-subscription claims as leases with a fresh lease_token each, the material of
// an attempt read at attempt time, and result writes fenced by the token, in batches. Stateless
// functions over a store::Tx.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/status.h"
#include "delivery/http_client.h"
#include "delivery/request.h"
#include "delivery/retry_policy.h"
#include "delivery/webhooks.h"
#include "events/outbox.h"
#include "store/store.h"

namespace learnwire::delivery {

// Why a delivery is attempted: its schedule, a /test call, or a /retry call.
enum class AttemptKind { kScheduled, kTest, kRetry };

struct Claim {
  std::string delivery_id;
  std::string organization_id;
  std::string webhook_id;
  std::string event_id;
  std::string event_type;
  std::string lease_token;
  std::string state;       // the delivery's state when claimed
  int attempt_number = 1;  // attempt_count + 1
  int64_t created_at = 0;  // the delivery's
  AttemptKind kind = AttemptKind::kScheduled;
};

// The two clocks of the queue. Due times follow the program's clock (injected in tests); leases
// follow the lease clock: the database's on PostgreSQL, so a lease runs out at the same moment
// for every node whatever their own clocks say; the program's on SQLite, whose one dispatcher
// owns every lease.
struct QueueTime {
  int64_t now = 0;        // the program's clock, ms
  int64_t lease_now = 0;  // the lease clock, ms
};
core::Result<QueueTime> ReadQueueTime(store::Tx& tx, int64_t now);

struct LeaseTerms {
  std::string worker_id;
  int64_t duration_ms = 0;  // attempt_timeout_s + 10 s
};

// The one dispatcher of a SQLite file owns every lease: at start it clears them, so deliveries
// in flight at a crash go out again at once (and /test deliveries cut off by it fail). Not for
// PostgreSQL, where other nodes' leases are alive: there, leases run out and are claimed again.
core::Status ClearLeases(store::Tx& tx);

// On PostgreSQL, a periodic job: /test deliveries whose node died mid-attempt (their lease ran
// out; /test never retries) or before its claim (unleased for ten minutes) fail with `timeout`.
// Returns how many.
core::Result<int64_t> FailAbandonedTests(store::Tx& tx, const QueueTime& t);

// Active subscriptions, in id order (the round-robin ring), with what flow control needs.
struct ActiveWebhook {
  std::string id;
  std::optional<int> rate_limit_per_s;
  bool ordered = false;
};
core::Result<std::vector<ActiveWebhook>> ActiveWebhooks(store::Tx& tx);

// Leases up to `limit` due, unleased scheduled deliveries of one subscription, oldest due first.
core::Result<std::vector<Claim>> ClaimDue(store::Tx& tx, const std::string& webhook_id,
                                          const QueueTime& t, int limit, const LeaseTerms& lease);

// Leases the head of an ordered subscription (ARCHITECTURE.md "Ordered subscriptions"): its
// oldest scheduled delivery in commit order (seq), when it is due and not leased. Nothing
// otherwise, so a failing head holds back the rest until it succeeds or finally fails.
// `head_due_at` says when a head that is not due yet will be. One claimer at a time per
// subscription: on PostgreSQL a transaction-scoped advisory lock (held elsewhere: nothing now),
// and the lease condition is checked again by the UPDATE; SQLite's writers take turns anyway.
struct HeadClaim {
  std::optional<Claim> claim;
  std::optional<int64_t> head_due_at;
};
core::Result<HeadClaim> ClaimHead(store::Tx& tx, const std::string& webhook_id, const QueueTime& t,
                                  const LeaseTerms& lease);

// Leases one delivery of the organization for a /test (a test delivery) or /retry (any state
// but scheduled) attempt. NotFound for another organization's; Conflict when it cannot be.
core::Result<Claim> ClaimOne(store::Tx& tx, const std::string& organization_id,
                             const std::string& delivery_id, AttemptKind kind, const QueueTime& t,
                             const LeaseTerms& lease);

// When the next claim could find work, on the program's clock: the earliest unleased due time
// or lease expiry.
core::Result<std::optional<int64_t>> NextDueAt(store::Tx& tx, const QueueTime& t);

// What an attempt needs, read at attempt time: the subscription's configuration as it is now and
// its signing keys (decoded, newest first), shared by the attempts of one claim round, and the
// event's envelope.
struct SubscriptionMaterial {
  Webhook webhook;
  std::vector<SigningKey> signing_keys;
};
struct AttemptMaterial {
  std::shared_ptr<const SubscriptionMaterial> subscription;
  std::string body;
};
core::Result<std::shared_ptr<const SubscriptionMaterial>> LoadSubscription(
    store::Tx& tx, const std::string& organization_id, const std::string& webhook_id, int64_t now);
core::Result<std::string> LoadEventBody(store::Tx& tx, const std::string& organization_id,
                                        const std::string& event_id);
// The envelopes of several events of one organization, by id (missing ones are absent).
core::Result<std::map<std::string, std::string>> LoadEventBodies(
    store::Tx& tx, const std::string& organization_id, const std::vector<std::string>& ids);
// Both, for one claim.
core::Result<AttemptMaterial> LoadMaterial(store::Tx& tx, const Claim& claim, int64_t now);

struct Finished {
  Claim claim;
  RetryPolicy policy;  // the subscription's at attempt time
  AttemptResult result;
  int64_t started_at = 0;
  HeaderList request_headers;  // redacted
};

// What a batch of results did (for metrics and for /test and /retry callers).
struct Recorded {
  std::string delivery_id;
  bool written = false;  // false: fenced out (the lease was lost) or the write failed
  std::string state;     // the delivery's state afterwards
  std::string why;       // when not written
};

// Records finished attempts in one transaction: each attempt row, the delivery's new state
// (fenced by its lease token, which the write then clears so it cannot be used twice), and the
// subscription's: last success, or disabling it (410, disable_on_4xx, retries exhausted with no
// 2xx since the delivery was created), which cancels its scheduled deliveries and emits
// webhook.disabled. With `isolate`, each result is written under its own savepoint: one that
// fails is logged and left out (its lease runs out and it is attempted again), never blocking the
// others. Without it the batch is written with fewer statements (attempt rows several at a time)
// and any failure fails the whole call: the caller retries the batch isolated.
core::Result<std::vector<Recorded>> RecordResults(store::Tx& tx, const events::EventContext& ctx,
                                                  const std::vector<Finished>& finished,
                                                  int64_t now, const Uniform01& uniform,
                                                  bool isolate = true);

// The queue as /metrics shows it.
struct QueueStats {
  std::vector<std::pair<std::string, int64_t>> by_state;  // every state, zero included
  int64_t due = 0;                                        // scheduled and due now (queue depth)
  int64_t oldest_due_age_ms = 0;                          // 0 when nothing is due
};
core::Result<QueueStats> ReadQueueStats(store::Tx& tx, int64_t now);

// Ends a claimed delivery that cannot be attempted (its event is gone): `failed`.
core::Status AbandonDelivery(store::Tx& tx, const Claim& claim, int64_t now);

// Gives leases back without an attempt (shutdown): the deliveries are due again at once.
core::Status ReleaseLeases(store::Tx& tx, const std::vector<Claim>& claims);

}  // namespace learnwire::delivery
