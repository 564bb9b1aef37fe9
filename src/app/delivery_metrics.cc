#include "app/delivery_metrics.h"

#include "core/log.h"
#include "delivery/queue.h"

namespace learnwire::app {

namespace {

const std::vector<double> kLatencyBounds = {0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1,
                                            0.25,  0.5,   1,     2.5,  5,    10,   30};

}  // namespace

DeliveryMetrics::DeliveryMetrics(http::Metrics& metrics, store::Store& store,
                                 const core::Clock& clock)
    : store_(store),
      clock_(clock),
      attempts_(metrics.AddCounter("learnwire_webhook_attempts_total",
                                   "Delivery attempts recorded, by outcome.")),
      attempt_seconds_(metrics.AddHistogram("learnwire_webhook_attempt_duration_seconds",
                                            "Duration of delivery attempts.", kLatencyBounds)),
      first_attempt_seconds_(metrics.AddHistogram(
          "learnwire_webhook_first_attempt_latency_seconds",
          "From an event's commit to the start of its delivery's first attempt.", kLatencyBounds)),
      deliveries_(metrics.AddGauge("learnwire_webhook_deliveries", "Deliveries by state.")),
      queue_depth_(metrics.AddGauge("learnwire_webhook_queue_depth",
                                    "Deliveries due now and waiting for a free slot.")),
      oldest_due_age_(metrics.AddGauge("learnwire_webhook_oldest_due_age_seconds",
                                       "How long the oldest due delivery has waited.")) {}

void DeliveryMetrics::AttemptRecorded(const std::string& outcome, int64_t duration_ms) {
  attempts_.Inc({{"outcome", outcome}});
  attempt_seconds_.Observe({}, static_cast<double>(duration_ms) / 1000.0);
}

void DeliveryMetrics::FirstAttemptLatency(int64_t ms) {
  first_attempt_seconds_.Observe({}, static_cast<double>(std::max<int64_t>(ms, 0)) / 1000.0);
}

void DeliveryMetrics::Refresh() {
  delivery::QueueStats stats;
  core::Status st = store_.Read([&](store::Tx& tx) -> core::Status {
    LW_ASSIGN_OR_RETURN(stats, delivery::ReadQueueStats(tx, core::ToUnixMs(clock_.Now())));
    return core::Status::Ok();
  });
  if (!st.ok()) {
    core::Log(core::LogLevel::kWarn, "metrics: cannot read the delivery queue",
              {{"error", st.message()}});
    return;
  }
  for (const auto& [state, n] : stats.by_state) {
    deliveries_.Set({{"state", state}}, static_cast<double>(n));
  }
  queue_depth_.Set(static_cast<double>(stats.due));
  oldest_due_age_.Set(static_cast<double>(stats.oldest_due_age_ms) / 1000.0);
}

}  // namespace learnwire::app
