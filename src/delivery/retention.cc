#include "delivery/retention.h"

namespace learnwire::delivery {

core::Result<Purged> PurgeBatch(store::Tx& tx, int64_t horizon_ms, int batch) {
  Purged purged;
  // The batch's deliveries are chosen once, so their attempts go with them. Only finished ones
  // (finished_at is set for every state but scheduled), and none leased by a /retry in flight.
  LW_ASSIGN_OR_RETURN(store::Rows doomed,
                      tx.Query("SELECT seq, id FROM deliveries WHERE finished_at IS NOT NULL "
                               "AND finished_at < $1 AND state <> 'scheduled' AND "
                               "lease_until IS NULL ORDER BY finished_at LIMIT $2",
                               {horizon_ms, batch}));
  for (std::size_t i = 0; i < doomed.size(); ++i) {
    LW_ASSIGN_OR_RETURN(int64_t attempts, tx.Exec("DELETE FROM attempts WHERE delivery_id = $1",
                                                  {doomed[i].Str("id")}));
    purged.attempts += attempts;
    LW_ASSIGN_OR_RETURN(int64_t deliveries,
                        tx.Exec("DELETE FROM deliveries WHERE seq = $1", {doomed[i].Int("seq")}));
    purged.deliveries += deliveries;
  }
  // Events in commit order up to the horizon (events_created), kept while a delivery refers
  // to them.
  LW_ASSIGN_OR_RETURN(purged.events,
                      tx.Exec("DELETE FROM events WHERE seq IN (SELECT e.seq FROM events e WHERE "
                              "e.created_at < $1 AND NOT EXISTS (SELECT 1 FROM deliveries d WHERE "
                              "d.event_id = e.id) ORDER BY e.created_at LIMIT $2)",
                              {horizon_ms, batch}));
  return purged;
}

}  // namespace learnwire::delivery
