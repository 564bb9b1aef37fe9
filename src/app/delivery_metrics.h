// The webhook delivery figures of /metrics: attempts by outcome and the commit→first-attempt
// latency (pushed by the dispatcher), and the queue read from the database at each scrape
// (deliveries by state, queue depth, oldest due delivery age). Thread-safe.
#pragma once

#include "core/clock.h"
#include "delivery/dispatcher.h"
#include "http/metrics.h"
#include "store/store.h"

namespace learnwire::app {

class DeliveryMetrics final : public delivery::DispatchObserver {
 public:
  DeliveryMetrics(http::Metrics& metrics, store::Store& store, const core::Clock& clock);

  void AttemptRecorded(const std::string& outcome, int64_t duration_ms) override;
  void FirstAttemptLatency(int64_t ms) override;
  // Reads the queue into the gauges; called before each rendering of /metrics.
  void Refresh();

 private:
  store::Store& store_;
  const core::Clock& clock_;
  http::Counter& attempts_;
  http::Histogram& attempt_seconds_;
  http::Histogram& first_attempt_seconds_;
  http::Gauge& deliveries_;
  http::Gauge& queue_depth_;
  http::Gauge& oldest_due_age_;
};

}  // namespace learnwire::app
