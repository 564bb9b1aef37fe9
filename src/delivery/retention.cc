#include "delivery/retention.h"

namespace learnwire::delivery {

core::Result<Purged> PurgeBatch(store::Tx& tx, int64_t horizon_ms, int batch) {
  Purged purged;
  // Attempts go with their delivery; both only once it is finished (finished_at is set for
  // every state but scheduled).
  LW_ASSIGN_OR_RETURN(
      purged.attempts,
      tx.Exec("DELETE FROM attempts WHERE delivery_id IN (SELECT id FROM deliveries WHERE "
              "finished_at IS NOT NULL AND finished_at < $1 AND state <> 'scheduled' LIMIT $2)",
              {horizon_ms, batch}));
  LW_ASSIGN_OR_RETURN(
      purged.deliveries,
      tx.Exec("DELETE FROM deliveries WHERE seq IN (SELECT seq FROM deliveries WHERE "
              "finished_at IS NOT NULL AND finished_at < $1 AND state <> 'scheduled' LIMIT $2)",
              {horizon_ms, batch}));
  LW_ASSIGN_OR_RETURN(purged.events,
                      tx.Exec("DELETE FROM events WHERE seq IN (SELECT e.seq FROM events e WHERE "
                              "e.created_at < $1 AND NOT EXISTS (SELECT 1 FROM deliveries d WHERE "
                              "d.event_id = e.id) ORDER BY e.seq LIMIT $2)",
                              {horizon_ms, batch}));
  return purged;
}

}  // namespace learnwire::delivery
