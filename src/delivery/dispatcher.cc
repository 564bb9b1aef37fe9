#include "delivery/dispatcher.h"

#include <algorithm>

#include "core/log.h"
#include "delivery/retention.h"

namespace learnwire::delivery {

// Leases outlast the attempt they cover by this much, so a live attempt never loses its lease.
constexpr std::chrono::milliseconds kLeaseMargin{10'000};
constexpr int64_t kJobsEveryMs = 60'000;
// The advisory lock of the periodic jobs on PostgreSQL ("Lrnjobs1").
constexpr int64_t kJobsLock = 0x4c72'6e6a'6f62'7331;

namespace {

int64_t SteadyMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

std::string Outcome(const AttemptResult& r) {
  if (!r.status) {
    return r.error.value_or("invalid_response");
  }
  const int s = *r.status;
  return s >= 200 && s < 300   ? "success"
         : s >= 400 && s < 500 ? "http_4xx"
         : s >= 500 && s < 600 ? "http_5xx"
                               : "http_other";
}

}  // namespace

struct Dispatcher::InFlight {
  Claim claim;
  RetryPolicy policy;
  HeaderList request_headers;
  int64_t started_at = 0;
  std::optional<AttemptResult> result;
  bool flow_told = false;  // flow control has seen the result
  std::shared_ptr<std::promise<core::Result<AttemptSummary>>> promise;
};

Dispatcher::Dispatcher(store::Store& store, const core::Clock& clock, core::IdGenerator& ids,
                       DispatcherOptions options, Uniform01 uniform)
    : store_(store),
      clock_(clock),
      ids_(ids),
      options_(std::move(options)),
      uniform_(std::move(uniform)),
      lease_{options_.worker_id, (options_.attempt_timeout + kLeaseMargin).count()},
      client_(HttpClient::Options{options_.guard, options_.attempt_timeout, 4096}),
      flow_(options_.in_flight_per_subscription) {}

Dispatcher::~Dispatcher() {
  if (thread_.joinable()) {
    Stop(std::chrono::milliseconds(0));
  }
}

core::Status Dispatcher::Start() {
  if (options_.claims && store_.Dialect() == "sqlite") {
    LW_RETURN_IF_ERROR(store_.Write([](store::Tx& tx) { return ClearLeases(tx); }));
  }
  last_loop_ns_ = std::chrono::steady_clock::now().time_since_epoch().count();
  thread_ = std::thread([this] { Run(); });
  return core::Status::Ok();
}

void Dispatcher::Stop(std::chrono::milliseconds grace) {
  if (!thread_.joinable()) {
    return;
  }
  stop_deadline_ = std::chrono::steady_clock::now() + grace;
  stopping_ = true;
  Wake();
  thread_.join();
}

void Dispatcher::Wake() {
  woken_ = true;
  client_.Wakeup();
}

std::future<core::Result<AttemptSummary>> Dispatcher::AttemptNow(const std::string& organization_id,
                                                                 const std::string& delivery_id,
                                                                 AttemptKind kind) {
  Request r{organization_id, delivery_id, kind, {}};
  std::future<core::Result<AttemptSummary>> future = r.promise.get_future();
  if (stopping_ || !thread_.joinable()) {
    r.promise.set_value(core::Unavailable("the dispatcher is not running"));
    return future;
  }
  {
    std::lock_guard<std::mutex> lock(requests_mu_);
    requests_.push_back(std::move(r));
  }
  Wake();
  return future;
}

bool Dispatcher::LoopedWithin(std::chrono::milliseconds within) const {
  const int64_t last = last_loop_ns_.load();
  const int64_t now = std::chrono::steady_clock::now().time_since_epoch().count();
  return last != 0 &&
         now - last <=
             std::chrono::duration_cast<std::chrono::steady_clock::duration>(within).count();
}

void Dispatcher::Run() {
  while (true) {
    const auto steady_now = std::chrono::steady_clock::now();
    last_loop_ns_ = steady_now.time_since_epoch().count();
    if (stopping_) {
      if (!finished_ids_.empty()) {
        Step(false);
      }
      if (in_flight_.empty() || steady_now >= stop_deadline_) {
        break;
      }
    } else {
      TakeRequests();
      const bool woke = woken_.exchange(false);
      // Also at least every idle_poll of real time: the fallback when a wake-up from another
      // node is lost, and how leases that ran out on the database clock are noticed whatever
      // the program's clock does.
      const bool claim = options_.claims && (woke || Now() >= next_due_ms_ ||
                                             steady_now - last_claim_ >= options_.idle_poll ||
                                             (next_rate_ms_ != 0 && SteadyMs() >= next_rate_ms_));
      if (claim) {
        last_claim_ = steady_now;
      }
      if (claim || !finished_ids_.empty()) {
        Step(claim);
      }
      if (options_.claims && Now() >= next_jobs_ms_) {
        RunPeriodicJobs();
      }
    }
    std::chrono::milliseconds wait = options_.idle_poll;
    if (stopping_) {
      wait = std::min(
          wait, std::chrono::duration_cast<std::chrono::milliseconds>(stop_deadline_ - steady_now));
    } else if (!woken_ && options_.claims) {
      wait = std::clamp(std::chrono::milliseconds(next_due_ms_ - Now()),
                        std::chrono::milliseconds(0), options_.idle_poll);
      if (next_rate_ms_ != 0) {
        wait = std::clamp(std::chrono::milliseconds(next_rate_ms_ - SteadyMs()),
                          std::chrono::milliseconds(0), wait);
      }
    } else if (woken_) {
      wait = std::chrono::milliseconds(0);
    }
    client_.Poll(std::max(wait, std::chrono::milliseconds(0)));
  }
  if (!finished_ids_.empty()) {
    Step(false);
  }
  ReleaseRemaining();
  core::Log(core::LogLevel::kInfo, "dispatcher: stopped",
            {{"write_steps", std::to_string(steps_)}, {"results", std::to_string(results_)}});
  last_loop_ns_ = 0;  // stopped: not ready
  std::lock_guard<std::mutex> lock(requests_mu_);
  for (Request& r : requests_) {
    r.promise.set_value(core::Unavailable("the server is shutting down"));
  }
  requests_.clear();
}

core::Status Dispatcher::ClaimInTx(store::Tx& tx, const QueueTime& t,
                                   const std::map<std::string, int>& finishing, Claimed& out) {
  const int64_t now = t.now;
  LW_ASSIGN_OR_RETURN(std::vector<ActiveWebhook> ring, ActiveWebhooks(tx));
  const int64_t steady_ms = SteadyMs();
  // The earliest due time of an ordered subscription's head that is not due yet: its other
  // deliveries may be due already, so NextDueAt alone would not say when to look again.
  std::optional<int64_t> held_back_until;
  for (std::size_t i = 0; i < ring.size(); ++i) {
    const ActiveWebhook& hook = ring[(ring_start_ + i) % ring.size()];
    const std::string& webhook_id = hook.id;
    auto busy = in_flight_by_webhook_.find(webhook_id);
    auto done = finishing.find(webhook_id);
    const int in_flight = (busy == in_flight_by_webhook_.end() ? 0 : busy->second) -
                          (done == finishing.end() ? 0 : done->second);
    // Free slots: the subscription's adaptive limit minus in flight, within its rate.
    const int free = flow_.Allowance(webhook_id, in_flight, hook.rate_limit_per_s, steady_ms);
    if (free <= 0) {
      if (auto at = flow_.NextStartAt(webhook_id, hook.rate_limit_per_s, steady_ms)) {
        out.next_rate_ms = std::min(out.next_rate_ms.value_or(*at), *at);
      }
      continue;
    }
    std::vector<Claim> claims;
    if (hook.ordered) {
      // One at a time, the head only (here or on any node).
      if (in_flight > 0) {
        continue;
      }
      LW_ASSIGN_OR_RETURN(HeadClaim head, ClaimHead(tx, webhook_id, t, lease_));
      if (head.claim) {
        claims.push_back(std::move(*head.claim));
      }
      if (head.head_due_at) {
        held_back_until = std::min(held_back_until.value_or(*head.head_due_at), *head.head_due_at);
      }
    } else {
      LW_ASSIGN_OR_RETURN(claims, ClaimDue(tx, webhook_id, t, free, lease_));
    }
    std::vector<std::string> event_ids;
    std::vector<Claim> fresh;
    for (Claim& c : claims) {
      if (in_flight_.count(c.delivery_id)) {
        // Its lease ran out while the attempt is still alive (a clock step, or results that
        // could not be written): the attempt keeps going under the new lease, never twice.
        out.adopted.push_back(std::move(c));
        continue;
      }
      event_ids.push_back(c.event_id);
      fresh.push_back(std::move(c));
    }
    if (fresh.empty()) {
      continue;
    }
    flow_.Started(webhook_id, static_cast<int>(fresh.size()), hook.rate_limit_per_s, steady_ms);
    // Read once per round for all of this subscription's attempts.
    LW_ASSIGN_OR_RETURN(std::shared_ptr<const SubscriptionMaterial> subscription,
                        LoadSubscription(tx, fresh.front().organization_id, webhook_id, now));
    LW_ASSIGN_OR_RETURN(auto bodies, LoadEventBodies(tx, fresh.front().organization_id, event_ids));
    for (Claim& c : fresh) {
      auto body = bodies.find(c.event_id);
      if (body == bodies.end()) {
        // Nothing can be sent for it; one bad row must not stop every delivery.
        core::Log(core::LogLevel::kError, "dispatcher: the event of a delivery is missing",
                  {{"delivery_id", c.delivery_id}, {"event_id", c.event_id}});
        LW_RETURN_IF_ERROR(AbandonDelivery(tx, c, now));
        continue;
      }
      out.started.emplace_back(std::move(c), AttemptMaterial{subscription, body->second});
    }
  }
  ring_start_ = ring.empty() ? 0 : (ring_start_ + 1) % ring.size();
  LW_ASSIGN_OR_RETURN(std::optional<int64_t> next, NextDueAt(tx, t));
  // Due work held back by full slots is claimed again when an attempt finishes.
  out.next_due_ms = next && *next > now ? *next : now + options_.idle_poll.count();
  if (held_back_until && *held_back_until > now) {
    out.next_due_ms = std::min(out.next_due_ms, *held_back_until);
  }
  return core::Status::Ok();
}

void Dispatcher::Step(bool claim) {
  const int64_t now = Now();
  // The finished attempts (each once), and the slots their subscriptions get back.
  std::vector<std::string> ids;
  std::vector<Finished> batch;
  std::map<std::string, int> finishing;
  for (const std::string& id : finished_ids_) {
    auto it = in_flight_.find(id);
    if (it == in_flight_.end() || !it->second->result ||
        std::find(ids.begin(), ids.end(), id) != ids.end()) {
      continue;
    }
    InFlight& f = *it->second;
    ids.push_back(id);
    batch.push_back({f.claim, f.policy, *f.result, f.started_at, f.request_headers});
    if (f.claim.kind == AttemptKind::kScheduled) {
      ++finishing[f.claim.webhook_id];
      if (!f.flow_told) {
        // Before this step's claims, so they already use the limit the outcome sets.
        flow_.Finished(f.claim.webhook_id, *f.result);
        f.flow_told = true;
      }
    }
  }
  // One write transaction: record the results, then claim for the freed slots and new work.
  std::vector<Recorded> recorded;
  Claimed claimed;
  core::Status status = store_.Write([&](store::Tx& tx) -> core::Status {
    recorded.clear();
    claimed = Claimed();
    if (!batch.empty()) {
      LW_ASSIGN_OR_RETURN(recorded, RecordResults(tx, EventCtx(), batch, now, uniform_, false));
    }
    if (claim) {
      LW_ASSIGN_OR_RETURN(QueueTime t, ReadQueueTime(tx, now));
      LW_RETURN_IF_ERROR(ClaimInTx(tx, t, finishing, claimed));
    }
    return core::Status::Ok();
  });
  if (!status.ok()) {
    core::Log(core::LogLevel::kError, "dispatcher: a write failed",
              {{"error", status.message()}, {"results", std::to_string(batch.size())}});
    next_due_ms_ = now + options_.idle_poll.count();
    if (batch.empty()) {
      return;
    }
    // Again, each result on its own, so one that cannot be written does not hold up the rest.
    status = store_.Write([&](store::Tx& tx) -> core::Status {
      LW_ASSIGN_OR_RETURN(recorded, RecordResults(tx, EventCtx(), batch, now, uniform_, true));
      return core::Status::Ok();
    });
    if (!status.ok()) {
      // Kept in memory and written by a later step. Should the leases run out meanwhile, the
      // next claim adopts them, so nothing is sent twice.
      core::Log(core::LogLevel::kError, "dispatcher: recording results failed",
                {{"error", status.message()}, {"results", std::to_string(batch.size())}});
      return;
    }
    claimed = Claimed();
    woken_ = true;  // claim in the next step
  }
  ++steps_;
  results_ += static_cast<int64_t>(ids.size());
  ApplyRecorded(ids, recorded);
  for (Claim& c : claimed.adopted) {
    auto it = in_flight_.find(c.delivery_id);
    if (it != in_flight_.end()) {
      it->second->claim.lease_token = c.lease_token;
    }
  }
  if (claim && status.ok() && claimed.next_due_ms) {
    next_due_ms_ = claimed.next_due_ms;
    next_rate_ms_ = claimed.next_rate_ms.value_or(0);
  }
  for (auto& [c, material] : claimed.started) {
    StartAttempt(std::move(c), std::move(material), nullptr);
  }
}

void Dispatcher::RunPeriodicJobs() {
  constexpr int kBatch = 1000;
  constexpr int kMaxBatchesPerPass = 20;  // bounded, so claims are never held up for long
  const int64_t now = Now();
  next_jobs_ms_ = now + kJobsEveryMs;
  const int64_t horizon = now - options_.retention_days * 86'400'000LL;
  Purged total;
  int64_t abandoned_tests = 0;
  for (int i = 0; i < kMaxBatchesPerPass; ++i) {
    Purged batch;
    bool mine = false;
    core::Status st = store_.Write([&](store::Tx& tx) -> core::Status {
      // Another node running the jobs now: this one skips its pass.
      LW_ASSIGN_OR_RETURN(mine, store::TryJobLock(tx, kJobsLock));
      if (!mine) {
        return core::Status::Ok();
      }
      if (i == 0 && tx.Dialect() == "postgres") {
        // (SQLite clears these at start: its one dispatcher outlives every /test of the file.)
        LW_ASSIGN_OR_RETURN(QueueTime t, ReadQueueTime(tx, now));
        LW_ASSIGN_OR_RETURN(abandoned_tests, FailAbandonedTests(tx, t));
      }
      LW_ASSIGN_OR_RETURN(batch, PurgeBatch(tx, horizon, kBatch));
      return core::Status::Ok();
    });
    if (!st.ok()) {
      core::Log(core::LogLevel::kError, "periodic jobs failed", {{"error", st.message()}});
      return;
    }
    if (!mine) {
      break;
    }
    total.deliveries += batch.deliveries;
    total.attempts += batch.attempts;
    total.events += batch.events;
    if (batch.deliveries < kBatch && batch.attempts < kBatch && batch.events < kBatch) {
      break;
    }
    next_jobs_ms_ = now;  // more to purge: continue on the next pass
  }
  if (abandoned_tests > 0) {
    core::Log(core::LogLevel::kInfo, "test deliveries abandoned by their node failed",
              {{"deliveries", std::to_string(abandoned_tests)}});
  }
  if (total.Total() > 0) {
    core::Log(core::LogLevel::kInfo, "retention: purged",
              {{"deliveries", std::to_string(total.deliveries)},
               {"attempts", std::to_string(total.attempts)},
               {"events", std::to_string(total.events)}});
  }
}

void Dispatcher::TakeRequests() {
  std::deque<Request> taken;
  {
    std::lock_guard<std::mutex> lock(requests_mu_);
    taken.swap(requests_);
  }
  for (Request& r : taken) {
    if (in_flight_.count(r.delivery_id)) {
      r.promise.set_value(core::Conflict("an attempt of this delivery is in flight"));
      continue;
    }
    const int64_t now = Now();
    std::optional<Claim> claim;
    std::optional<AttemptMaterial> material;
    core::Status status = store_.Write([&](store::Tx& tx) -> core::Status {
      LW_ASSIGN_OR_RETURN(QueueTime t, ReadQueueTime(tx, now));
      LW_ASSIGN_OR_RETURN(Claim c,
                          ClaimOne(tx, r.organization_id, r.delivery_id, r.kind, t, lease_));
      LW_ASSIGN_OR_RETURN(AttemptMaterial m, LoadMaterial(tx, c, now));
      claim = std::move(c);
      material = std::move(m);
      return core::Status::Ok();
    });
    if (!status.ok()) {
      r.promise.set_value(status);
      continue;
    }
    StartAttempt(
        std::move(*claim), std::move(*material),
        std::make_shared<std::promise<core::Result<AttemptSummary>>>(std::move(r.promise)));
  }
}

void Dispatcher::StartAttempt(Claim claim, AttemptMaterial material,
                              std::shared_ptr<std::promise<core::Result<AttemptSummary>>> promise) {
  const int64_t now = Now();
  AttemptInput input{claim.delivery_id,        claim.event_id,       claim.event_type,
                     std::move(material.body), claim.attempt_number, now / 1000};
  const SubscriptionMaterial& sub = *material.subscription;
  AttemptRequest request =
      BuildAttemptRequest(sub.webhook, sub.signing_keys, input, options_.user_agent);
  auto f = std::make_unique<InFlight>();
  f->claim = std::move(claim);
  f->policy = sub.webhook.retry_policy;
  f->request_headers = RedactHeaders(sub.webhook, request.headers);
  f->started_at = now;
  f->promise = std::move(promise);
  const std::string id = f->claim.delivery_id;
  if (f->claim.kind == AttemptKind::kScheduled) {
    ++in_flight_by_webhook_[f->claim.webhook_id];
  }
  in_flight_[id] = std::move(f);
  client_.Start(request, [this, id](AttemptResult result) {
    auto it = in_flight_.find(id);
    if (it != in_flight_.end()) {
      it->second->result = std::move(result);
      finished_ids_.push_back(id);
    }
  });
}

void Dispatcher::ApplyRecorded(const std::vector<std::string>& ids,
                               const std::vector<Recorded>& recorded) {
  for (std::size_t i = 0; i < ids.size() && i < recorded.size(); ++i) {
    auto it = in_flight_.find(ids[i]);
    if (it == in_flight_.end()) {
      continue;
    }
    InFlight& f = *it->second;
    const AttemptResult& r = *f.result;
    if (r.error) {
      // The detail (curl's reason, the guard's sentence) is for operators; it names no secret.
      core::Log(core::LogLevel::kInfo, "webhook attempt failed",
                {{"delivery_id", ids[i]},
                 {"webhook_id", f.claim.webhook_id},
                 {"error", *r.error},
                 {"detail", r.error_detail}});
    }
    if (options_.observer && recorded[i].written) {
      options_.observer->AttemptRecorded(Outcome(r), r.duration_ms);
      if (f.claim.kind == AttemptKind::kScheduled && f.claim.attempt_number == 1) {
        options_.observer->FirstAttemptLatency(f.started_at - f.claim.created_at);
      }
    }
    if (f.claim.kind == AttemptKind::kScheduled) {
      if (--in_flight_by_webhook_[f.claim.webhook_id] <= 0) {
        in_flight_by_webhook_.erase(f.claim.webhook_id);
      }
    }
    if (f.promise) {
      if (recorded[i].written) {
        f.promise->set_value(AttemptSummary{ids[i], f.claim.attempt_number, r.status, r.error,
                                            r.duration_ms, r.response_excerpt, recorded[i].state});
      } else {
        f.promise->set_value(
            core::Conflict("the attempt's result was not recorded: " + recorded[i].why));
      }
    }
    in_flight_.erase(it);
  }
  finished_ids_.clear();
  if (!ids.empty()) {
    woken_ = true;  // slots were freed
  }
}

void Dispatcher::ReleaseRemaining() {
  std::vector<Claim> claims;
  for (auto& [id, f] : in_flight_) {
    if (!f->result) {
      claims.push_back(f->claim);
    }
  }
  if (!claims.empty()) {
    core::Status status = store_.Write([&](store::Tx& tx) { return ReleaseLeases(tx, claims); });
    if (!status.ok()) {
      core::Log(core::LogLevel::kError, "dispatcher: releasing leases failed",
                {{"error", status.message()}});
    }
  }
  for (auto& [id, f] : in_flight_) {
    if (f->promise) {
      f->promise->set_value(core::Unavailable("the server is shutting down"));
    }
  }
  in_flight_.clear();
  in_flight_by_webhook_.clear();
}

}  // namespace learnwire::delivery
