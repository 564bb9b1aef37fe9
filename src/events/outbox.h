// The transactional outbox: every change writes its event in the same transaction (Append), and
// the events feed reads them back in commit order (List). Stateless functions over a store::Tx;
// thread-safe as long as each Tx is used by one thread.
#pragma once

#include <boost/json/object.hpp>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "core/clock.h"
#include "core/ids.h"
#include "core/status.h"
#include "events/fanout.h"
#include "events/matching.h"
#include "store/store.h"

namespace learnwire::events {

// Who caused a change: {"type": "api_key"|"user"|"system", "id": "key_…"|"usr_…"|null}.
struct Actor {
  std::string type = "system";
  std::optional<std::string> id;
};

struct NewEvent {
  std::string organization_id;
  std::string type;  // e.g. "learner.created"
  Actor actor;
  boost::json::object data;
  std::optional<std::string> learner_id;  // the learner the payload names, for erasure
  Relations relations;                    // what subscription filters match on
};

// What every writer needs to stamp an event.
struct EventContext {
  core::IdGenerator* ids;
  const core::Clock* clock;
  DeliveryListener* listener = nullptr;  // told after the commit when deliveries were scheduled
};

// Builds the envelope (WEBHOOKS.md §2), inserts it and fans it out to the matching active
// subscriptions (not webhook.test, which goes to one subscription by its own path); returns the
// event id.
core::Result<std::string> Append(store::Tx& tx, const EventContext& ctx, NewEvent event);

struct StoredEvent {
  int64_t seq;
  std::string id;
  std::string payload;  // the envelope as JSON text
};

// The events table's columns and the conditions of the feed (organization, no webhook.test)
// for a list query; filters are added by the caller.
inline constexpr const char* kEventColumns = "seq, id, payload";
inline constexpr const char* kFeedCondition = "organization_id = $1 AND type <> 'webhook.test'";

// The commit sequence of an event of this organization, or kNotFound.
core::Result<int64_t> SeqOf(store::Tx& tx, const std::string& organization_id,
                            const std::string& event_id);
core::Result<StoredEvent> Get(store::Tx& tx, const std::string& organization_id,
                              const std::string& event_id);

// Rewrites every stored payload of the organization that names the learner (ScrubLearnerJson).
core::Status ScrubLearner(store::Tx& tx, const std::string& organization_id,
                          const std::string& learner_id);
// In each object of `v` whose "id" is the learner's (and its "previous"), personal fields that
// hold text become "erased", external_id null and custom_fields {}. Returns whether anything
// changed.
bool ScrubLearnerJson(boost::json::value& v, const std::string& learner_id);

// The valid event types of EVENTS.md.
const std::vector<std::string>& Catalog();

}  // namespace learnwire::events
