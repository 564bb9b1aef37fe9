// Retention (PRODUCT.md `retention_days`): finished deliveries, their attempts, and events older
// than the horizon are purged in small batches. A scheduled delivery is never purged, nor is an
// event that any remaining delivery refers to.
#pragma once

#include <cstdint>

#include "core/status.h"
#include "store/store.h"

namespace learnwire::delivery {

struct Purged {
  int64_t deliveries = 0;
  int64_t attempts = 0;
  int64_t events = 0;
  int64_t Total() const { return deliveries + attempts + events; }
};

// One batch of at most `batch` rows of each kind, older than `horizon_ms`.
core::Result<Purged> PurgeBatch(store::Tx& tx, int64_t horizon_ms, int batch);

}  // namespace learnwire::delivery
