// What /test, /retry and /replay share: the per-organization limit on attempts made on demand
// (at most 4 at once, WEBHOOKS.md §6), waiting for such an attempt, and replay scheduling.
#pragma once

#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "api/context.h"
#include "delivery/dispatcher.h"
#include "delivery/webhooks.h"

namespace learnwire::api {

// Counts the on-demand attempts running, per organization and in all: each holds an HTTP worker
// thread while it waits, so the total stays below the pool's size and the rest of the API always
// has workers. Thread-safe.
class AttemptSlots {
 public:
  AttemptSlots(int per_organization, int total)
      : per_organization_(per_organization), total_(total) {}
  bool TryAcquire(const std::string& organization_id);
  void Release(const std::string& organization_id);

 private:
  const int per_organization_;
  const int total_;
  int used_total_ = 0;
  std::mutex mu_;
  std::map<std::string, int> used_;
};

// Holds one slot for the life of a request; ok() is false when none was free.
class AttemptSlot {
 public:
  explicit AttemptSlot(const RequestContext& ctx);
  ~AttemptSlot();
  AttemptSlot(const AttemptSlot&) = delete;
  AttemptSlot& operator=(const AttemptSlot&) = delete;
  bool ok() const { return held_; }
  http::Response Refused() const;  // 429

 private:
  const RequestContext& ctx_;
  bool held_ = false;
};

// Asks the dispatcher for the attempt and waits for its recorded result.
core::Result<delivery::AttemptSummary> AwaitAttempt(const RequestContext& ctx,
                                                    const std::string& delivery_id,
                                                    delivery::AttemptKind kind);

struct ReplayRequest {
  int64_t since = 0;
  int64_t until = 0;
  std::vector<std::string> states;
  bool include_missed = false;
};
core::Result<ReplayRequest> ParseReplay(const boost::json::object& body, int64_t now);
// Schedules the replay (new deliveries with replay_of, plus missed events); refuses more than
// `max` with a 422. Returns how many were scheduled.
core::Result<int64_t> ScheduleReplay(store::Tx& tx, const RequestContext& ctx,
                                     const delivery::Webhook& webhook, const ReplayRequest& r,
                                     int64_t max);

}  // namespace learnwire::api
