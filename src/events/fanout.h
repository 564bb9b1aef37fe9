// Fan-out in the commit (ARCHITECTURE.md "The way an event travels"): the transaction that
// writes an event also inserts one scheduled delivery per subscription it sees active and
// matching, so no event ever exists without its deliveries. The dispatcher is told after the
// commit.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "core/ids.h"
#include "core/status.h"
#include "events/matching.h"
#include "store/store.h"

namespace learnwire::events {

struct Actor;

// Told, after a commit, that deliveries were scheduled (the dispatcher's wake-up). Thread-safe.
class DeliveryListener {
 public:
  virtual ~DeliveryListener() = default;
  virtual void DeliveriesScheduled() = 0;
};

// The channel (store::Tx::Notify, Store::Listen) on which commits that schedule deliveries
// wake the workers of every node.
inline constexpr std::string_view kDeliveriesChannel = "learnwire_deliveries";

struct NewDelivery {
  std::string organization_id;
  std::string webhook_id;
  std::string event_id;
  std::string event_type;
  int64_t now_ms = 0;
  std::optional<std::string> replay_of;
  bool test = false;  // a /test delivery: attempted once by the caller, never claimed
};

// Inserts one scheduled delivery, due now, and notifies kDeliveriesChannel; returns its id
// (dlv_…).
core::Result<std::string> ScheduleDelivery(store::Tx& tx, core::IdGenerator& ids,
                                           const NewDelivery& delivery);

// Inserts a delivery of the event for every active subscription of the organization that it
// matches; returns how many.
core::Result<int> FanOut(store::Tx& tx, core::IdGenerator& ids, const std::string& organization_id,
                         const std::string& event_id, const std::string& type,
                         const Relations& relations, const Actor& actor, int64_t now_ms);

}  // namespace learnwire::events
