// Route registration, one function per resource file.
#pragma once

#include "api/context.h"

namespace learnwire::api {

// /healthz, /readyz, and /metrics (unless `with_metrics` is false: metrics_listen moved it).
void RegisterOperations(http::Router& router, const Services& services, bool with_metrics);
// /openapi.json and /docs.
void RegisterDocs(http::Router& router, const Services& services);
void RegisterLearners(http::Router& router, const Services& services);
void RegisterEvents(http::Router& router, const Services& services);
// /api/v1/event-types: the event catalog (WEBHOOKS.md §8) from services.event_types_json.
void RegisterEventTypes(http::Router& router, const Services& services);
void RegisterApiKeys(http::Router& router, const Services& services);
void RegisterWebhooks(http::Router& router, const Services& services);
void RegisterDeliveries(http::Router& router, const Services& services);
// /api/v1/webhooks/{id}/stats and /api/v1/stats/deliveries.
void RegisterStats(http::Router& router, const Services& services);

}  // namespace learnwire::api
