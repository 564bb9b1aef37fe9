#include "events/fanout.h"

#include "events/outbox.h"

namespace learnwire::events {

core::Result<std::string> ScheduleDelivery(store::Tx& tx, core::IdGenerator& ids,
                                           const NewDelivery& d) {
  std::string id = ids.New("dlv");
  LW_RETURN_IF_ERROR(
      tx.Exec("INSERT INTO deliveries (id, organization_id, webhook_id, event_id, event_type, "
              "state, test, next_attempt_at, replay_of, created_at, updated_at) "
              "VALUES ($1, $2, $3, $4, $5, 'scheduled', $6, $7, $8, $7, $7)",
              {id, d.organization_id, d.webhook_id, d.event_id, d.event_type, d.test, d.now_ms,
               d.replay_of})
          .status());
  if (!d.test) {
    // Workers on other nodes hear of it at the commit (a /test delivery is attempted by the
    // node that made it, never claimed).
    LW_RETURN_IF_ERROR(tx.Notify(kDeliveriesChannel));
  }
  return id;
}

core::Result<int> FanOut(store::Tx& tx, core::IdGenerator& ids, const std::string& organization_id,
                         const std::string& event_id, const std::string& type,
                         const Relations& relations, const Actor& actor, int64_t now_ms) {
  LW_ASSIGN_OR_RETURN(store::Rows subscriptions,
                      tx.Query("SELECT id, event_types, filters FROM webhooks "
                               "WHERE organization_id = $1 AND active = 1 AND deleted_at IS NULL",
                               {organization_id}));
  int scheduled = 0;
  for (std::size_t i = 0; i < subscriptions.size(); ++i) {
    auto row = subscriptions[i];
    LW_ASSIGN_OR_RETURN(SubscriptionFilter filter,
                        ParseStoredFilter(row.Str("event_types"), row.Str("filters")));
    if (!Matches(filter, type, relations, actor)) {
      continue;
    }
    NewDelivery delivery;
    delivery.organization_id = organization_id;
    delivery.webhook_id = row.Str("id");
    delivery.event_id = event_id;
    delivery.event_type = type;
    delivery.now_ms = now_ms;
    LW_RETURN_IF_ERROR(ScheduleDelivery(tx, ids, delivery).status());
    ++scheduled;
  }
  return scheduled;
}

}  // namespace learnwire::events
