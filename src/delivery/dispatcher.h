// The dispatcher (ARCHITECTURE.md): one thread that claims due deliveries per subscription up to
// its free slots, serving subscriptions round-robin; starts each attempt as soon as it is leased;
// drives them with the libcurl multi client; and records results in one transaction per batch.
// Only in-flight work is in memory. Woken by commits that schedule deliveries (in this process,
// or on any node through the store's notifications); otherwise it sleeps until the next due time
// (at most a second). Once a minute (of the injected clock) it runs the periodic jobs (the
// retention purge; on PostgreSQL also failing abandoned /test deliveries), on one node at a time.
// On an API node (`claims` false) it only makes the attempts of /test and /retry.
//
// Threading: Start() launches the thread; DeliveriesScheduled(), Wake(), AttemptNow() and
// Stop() are thread-safe.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <future>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "core/clock.h"
#include "core/ids.h"
#include "core/status.h"
#include "delivery/flow_control.h"
#include "delivery/http_client.h"
#include "delivery/queue.h"
#include "events/fanout.h"
#include "store/store.h"

namespace learnwire::delivery {

// Told about every recorded attempt (app/ turns these into Prometheus metrics). Called on the
// dispatcher thread.
class DispatchObserver {
 public:
  virtual ~DispatchObserver() = default;
  // `outcome`: "success", "http_4xx", "http_5xx", "http_other", or an error name of §4.
  virtual void AttemptRecorded(const std::string& outcome, int64_t duration_ms) = 0;
  // From the event's commit to the start of its delivery's first attempt.
  virtual void FirstAttemptLatency(int64_t ms) = 0;
};

struct DispatcherOptions {
  DispatchObserver* observer = nullptr;
  int in_flight_per_subscription = 16;
  std::chrono::milliseconds attempt_timeout{30'000};
  GuardConfig guard;
  std::string user_agent = "Learnwire-Webhooks";
  std::string worker_id = "local";
  int64_t retention_days = 30;  // finished deliveries, attempts and events older are purged
  // Claims are retried at least this often even without a wake-up.
  std::chrono::milliseconds idle_poll{1000};
  // false on an API node: no claims and no periodic jobs, only AttemptNow.
  bool claims = true;
};

// What /test and /retry answer: the attempt made.
struct AttemptSummary {
  std::string delivery_id;
  int number = 0;
  std::optional<int> status;
  std::optional<std::string> error;
  int64_t duration_ms = 0;
  std::string response_excerpt;
  std::string state;  // the delivery's state afterwards
};

class Dispatcher final : public events::DeliveryListener {
 public:
  Dispatcher(store::Store& store, const core::Clock& clock, core::IdGenerator& ids,
             DispatcherOptions options, Uniform01 uniform);
  ~Dispatcher() override;
  Dispatcher(const Dispatcher&) = delete;
  Dispatcher& operator=(const Dispatcher&) = delete;

  // On SQLite, clears stale leases (the only dispatcher of the file); starts the thread.
  core::Status Start();
  // Stops claiming; lets attempts in flight finish for at most `grace`; gives back the leases
  // of the rest; records everything; joins the thread.
  void Stop(std::chrono::milliseconds grace);

  void DeliveriesScheduled() override { Wake(); }
  void Wake();

  // Makes one attempt of a delivery now (a /test delivery, or /retry of a finished one),
  // bypassing caps, and resolves when its result is recorded.
  std::future<core::Result<AttemptSummary>> AttemptNow(const std::string& organization_id,
                                                       const std::string& delivery_id,
                                                       AttemptKind kind);

  std::chrono::milliseconds attempt_timeout() const { return options_.attempt_timeout; }

  // True when the dispatcher thread went round its loop within `within` (a /readyz check): a
  // loop stuck on the database or in a bug shows here. Thread-safe.
  bool LoopedWithin(std::chrono::milliseconds within) const;

 private:
  struct InFlight;
  struct Request {
    std::string organization_id;
    std::string delivery_id;
    AttemptKind kind;
    std::promise<core::Result<AttemptSummary>> promise;
  };

  // What one claim step got: attempts to start, and leases that live attempts take over.
  struct Claimed {
    std::vector<std::pair<Claim, AttemptMaterial>> started;
    std::vector<Claim> adopted;
    int64_t next_due_ms = 0;
    // The earliest time (steady ms) a subscription held back by its rate may start again.
    std::optional<int64_t> next_rate_ms;
  };

  void Run();
  // One write transaction: the results of finished attempts, then (when `claim`) claims for the
  // slots they freed and for new work; then the attempts start.
  void Step(bool claim);
  core::Status ClaimInTx(store::Tx& tx, const QueueTime& t,
                         const std::map<std::string, int>& finishing, Claimed& out);
  void ApplyRecorded(const std::vector<std::string>& ids, const std::vector<Recorded>& recorded);
  void TakeRequests();
  void StartAttempt(Claim claim, AttemptMaterial material,
                    std::shared_ptr<std::promise<core::Result<AttemptSummary>>> promise);
  void ReleaseRemaining();
  void RunPeriodicJobs();
  int64_t Now() const { return core::ToUnixMs(clock_.Now()); }
  events::EventContext EventCtx() { return {&ids_, &clock_, this}; }

  store::Store& store_;
  const core::Clock& clock_;
  core::IdGenerator& ids_;
  DispatcherOptions options_;
  Uniform01 uniform_;
  LeaseTerms lease_;
  HttpClient client_;

  std::thread thread_;
  std::atomic<bool> stopping_{false};
  std::atomic<bool> woken_{true};
  std::atomic<int64_t> last_loop_ns_{0};  // steady clock
  std::chrono::steady_clock::time_point stop_deadline_;

  std::mutex requests_mu_;
  std::deque<Request> requests_;

  // Dispatcher thread only.
  std::map<std::string, int> in_flight_by_webhook_;
  std::map<std::string, std::unique_ptr<InFlight>> in_flight_;  // by delivery id
  std::vector<std::string> finished_ids_;
  int64_t steps_ = 0;    // write transactions of Step, for the log line at stop
  int64_t results_ = 0;  // results they recorded
  std::size_t ring_start_ = 0;
  int64_t next_due_ms_ = 0;
  int64_t next_jobs_ms_ = 0;
  std::chrono::steady_clock::time_point last_claim_{};
  FlowControl flow_;
  int64_t next_rate_ms_ = 0;  // steady ms; 0: no subscription waits for its rate
};

}  // namespace learnwire::delivery
