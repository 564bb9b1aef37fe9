#include "api/attempts.h"

#include <boost/json.hpp>

#include "core/time_format.h"
#include "events/fanout.h"
#include "events/matching.h"
#include "events/outbox.h"
#include "http/problem.h"

namespace learnwire::api {
namespace json = boost::json;
using core::Result;

bool AttemptSlots::TryAcquire(const std::string& organization_id) {
  std::lock_guard<std::mutex> lock(mu_);
  int& used = used_[organization_id];
  if (used >= per_organization_ || used_total_ >= total_) {
    if (used == 0) {
      used_.erase(organization_id);
    }
    return false;
  }
  ++used;
  ++used_total_;
  return true;
}

void AttemptSlots::Release(const std::string& organization_id) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = used_.find(organization_id);
  if (it == used_.end()) {
    return;
  }
  --used_total_;
  if (--it->second <= 0) {
    used_.erase(it);
  }
}

AttemptSlot::AttemptSlot(const RequestContext& ctx) : ctx_(ctx) {
  held_ = ctx.services.attempt_slots && ctx.services.attempt_slots->TryAcquire(ctx.org());
}

AttemptSlot::~AttemptSlot() {
  if (held_) {
    ctx_.services.attempt_slots->Release(ctx_.org());
  }
}

http::Response AttemptSlot::Refused() const {
  http::Response r = http::Problem(
      429, "rate-limited",
      "too many test or retry attempts are running (at most 4 at once per organization, 16 in "
      "all); try again shortly");
  r.SetHeader("retry-after", "1");
  return r;
}

Result<delivery::AttemptSummary> AwaitAttempt(const RequestContext& ctx,
                                              const std::string& delivery_id,
                                              delivery::AttemptKind kind) {
  delivery::Dispatcher* dispatcher = ctx.services.dispatcher;
  if (!dispatcher) {
    return core::Unavailable("webhook delivery is not running on this node");
  }
  auto future = dispatcher->AttemptNow(ctx.org(), delivery_id, kind);
  // The attempt is bounded by its timeout; the margin covers claiming and recording.
  if (future.wait_for(dispatcher->attempt_timeout() + std::chrono::seconds(15)) !=
      std::future_status::ready) {
    return core::Unavailable("the attempt did not finish in time");
  }
  return future.get();
}

Result<ReplayRequest> ParseReplay(const json::object& body, int64_t now) {
  ReplayRequest r;
  r.until = now;
  r.states = {"failed", "canceled"};
  std::vector<core::FieldError> errors;
  auto time_field = [&](const char* k, int64_t& out, bool required) {
    const json::value* v = body.if_contains(k);
    if (!v) {
      if (required) {
        errors.push_back({k, "is required"});
      }
      return;
    }
    std::optional<int64_t> t =
        v->is_string() ? core::ParseTime(std::string(v->get_string())) : std::nullopt;
    if (!t) {
      errors.push_back({k, "must be an RFC 3339 time"});
      return;
    }
    out = *t;
  };
  time_field("since", r.since, true);
  time_field("until", r.until, false);
  if (const json::value* v = body.if_contains("states")) {
    r.states.clear();
    if (!v->is_array() || v->get_array().empty()) {
      errors.push_back({"states", "must be a non-empty array of states"});
    } else {
      for (std::size_t i = 0; i < v->get_array().size(); ++i) {
        const json::value& s = v->get_array()[i];
        if (!s.is_string() || (s.get_string() != "succeeded" && s.get_string() != "failed" &&
                               s.get_string() != "canceled")) {
          errors.push_back({"states[" + std::to_string(i) + "]",
                            "must be \"succeeded\", \"failed\" or \"canceled\""});
        } else {
          r.states.emplace_back(s.get_string());
        }
      }
    }
  }
  if (const json::value* v = body.if_contains("include_missed")) {
    if (!v->is_bool()) {
      errors.push_back({"include_missed", "must be true or false"});
    } else {
      r.include_missed = v->get_bool();
    }
  }
  if (errors.empty() && r.until < r.since) {
    errors.push_back({"until", "must not be before since"});
  }
  if (!errors.empty()) {
    return core::Status::Invalid(std::move(errors));
  }
  return r;
}

namespace {

struct ToSchedule {
  std::string event_id;
  std::string event_type;
  std::optional<std::string> replay_of;
};

events::Actor ActorOf(std::string_view payload) {
  events::Actor actor;
  boost::system::error_code ec;
  json::value v = json::parse(payload, ec);
  if (ec || !v.is_object()) {
    return actor;
  }
  if (const json::value* a = v.get_object().if_contains("actor"); a && a->is_object()) {
    if (const json::value* id = a->get_object().if_contains("id"); id && id->is_string()) {
      actor.id = std::string(id->get_string());
    }
  }
  return actor;
}

core::Status TooMany(int64_t max) {
  return core::Status::Invalid("since", "the range holds more than " + std::to_string(max) +
                                            " deliveries to replay: narrow it");
}

}  // namespace

Result<int64_t> ScheduleReplay(store::Tx& tx, const RequestContext& ctx,
                               const delivery::Webhook& webhook, const ReplayRequest& r,
                               int64_t max) {
  std::vector<ToSchedule> plan;
  store::Params params = {webhook.id, r.since, r.until};
  std::string in;
  for (const std::string& s : r.states) {
    params.push_back(s);
    in += (in.empty() ? "$" : ", $") + std::to_string(params.size());
  }
  params.push_back(max + 1);
  LW_RETURN_IF_ERROR(tx.QueryEach(
      "SELECT id, event_id, event_type FROM deliveries WHERE webhook_id = $1 AND test = 0 AND "
      "created_at >= $2 AND created_at <= $3 AND state IN (" +
          in + ") ORDER BY seq LIMIT $" + std::to_string(params.size()),
      params, [&](const store::RowView& row) {
        // One new delivery per matching old one (§6).
        plan.push_back(
            {std::string(row.Text(1)), std::string(row.Text(2)), std::string(row.Text(0))});
        return core::Status::Ok();
      }));
  if (static_cast<int64_t>(plan.size()) > max) {
    return TooMany(max);
  }
  if (r.include_missed) {
    LW_ASSIGN_OR_RETURN(
        events::SubscriptionFilter filter,
        events::ParseStoredFilter(json::serialize(json::value_from(webhook.event_types)),
                                  json::serialize(webhook.filters)));
    LW_RETURN_IF_ERROR(tx.QueryEach(
        "SELECT e.id, e.type, e.relations, e.payload FROM events e WHERE e.organization_id = $1 "
        "AND e.type <> 'webhook.test' AND e.created_at >= $2 AND e.created_at <= $3 AND "
        "NOT EXISTS (SELECT 1 FROM deliveries d WHERE d.webhook_id = $4 AND "
        "d.event_id = e.id) ORDER BY e.seq",
        {ctx.org(), r.since, r.until, webhook.id}, [&](const store::RowView& row) {
          std::string type(row.Text(1));
          if (!events::Matches(filter, type, events::ParseStoredRelations(row.Text(2)),
                               ActorOf(row.Text(3)))) {
            return core::Status::Ok();
          }
          if (static_cast<int64_t>(plan.size()) >= max) {
            return TooMany(max);
          }
          plan.push_back({std::string(row.Text(0)), std::move(type), std::nullopt});
          return core::Status::Ok();
        }));
  }
  for (const ToSchedule& s : plan) {
    events::NewDelivery d;
    d.organization_id = ctx.org();
    d.webhook_id = webhook.id;
    d.event_id = s.event_id;
    d.event_type = s.event_type;
    d.now_ms = ctx.Now();
    d.replay_of = s.replay_of;
    LW_RETURN_IF_ERROR(events::ScheduleDelivery(tx, *ctx.services.ids, d).status());
  }
  return static_cast<int64_t>(plan.size());
}

}  // namespace learnwire::api
