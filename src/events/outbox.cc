#include "events/outbox.h"

#include <boost/json.hpp>

#include "core/time_format.h"

namespace learnwire::events {
namespace json = boost::json;

namespace {

// The advisory lock that orders event-writing transactions on PostgreSQL ("Learnev1").
constexpr int64_t kEventOrderLock = 0x4c65'6172'6e65'7631;

}  // namespace
using core::Result;
using core::Status;

Result<std::string> Append(store::Tx& tx, const EventContext& ctx, NewEvent event) {
  std::string id = ctx.ids->New("evt");
  int64_t now = core::ToUnixMs(ctx.clock->Now());
  json::object envelope;
  envelope["id"] = id;
  envelope["type"] = event.type;
  envelope["version"] = "1";
  envelope["timestamp"] = core::FormatTime(now);
  envelope["organization_id"] = event.organization_id;
  json::object actor;
  actor["type"] = event.actor.type;
  actor["id"] = event.actor.id ? json::value(*event.actor.id) : json::value(nullptr);
  envelope["actor"] = std::move(actor);
  envelope["data"] = std::move(event.data);
  if (tx.Dialect() == "postgres") {
    // Commit order for readers: transactions that write events take this lock (held until they
    // end) before their first event, so sequence numbers are handed out in commit order and
    // GET /events?after= never skips an event that commits late, whatever node wrote it.
    LW_RETURN_IF_ERROR(
        tx.Query("SELECT pg_advisory_xact_lock(" + std::to_string(kEventOrderLock) + ")").status());
  }
  LW_RETURN_IF_ERROR(
      tx.Exec("INSERT INTO events (id, organization_id, type, created_at, learner_id, payload, "
              "relations) VALUES ($1, $2, $3, $4, $5, $6, $7)",
              {id, event.organization_id, event.type, now, event.learner_id,
               json::serialize(envelope), StoredRelations(event.relations)})
          .status());
  if (event.type == "webhook.test") {
    return id;
  }
  LW_ASSIGN_OR_RETURN(int scheduled, FanOut(tx, *ctx.ids, event.organization_id, id, event.type,
                                            event.relations, event.actor, now));
  if (scheduled > 0 && ctx.listener) {
    DeliveryListener* listener = ctx.listener;
    tx.AfterCommit([listener] { listener->DeliveriesScheduled(); });
  }
  return id;
}

Result<StoredEvent> Get(store::Tx& tx, const std::string& organization_id,
                        const std::string& event_id) {
  LW_ASSIGN_OR_RETURN(store::Rows rows,
                      tx.Query("SELECT seq, id, payload FROM events WHERE organization_id = $1 "
                               "AND id = $2 AND type <> 'webhook.test'",
                               {organization_id, event_id}));
  if (rows.empty()) {
    return core::NotFound("event not found");
  }
  return StoredEvent{rows[0].Int("seq"), rows[0].Str("id"), rows[0].Str("payload")};
}

Result<int64_t> SeqOf(store::Tx& tx, const std::string& organization_id,
                      const std::string& event_id) {
  LW_ASSIGN_OR_RETURN(StoredEvent e, Get(tx, organization_id, event_id));
  return e.seq;
}

namespace {

bool ScrubPersonalFields(json::object& o) {
  bool changed = false;
  for (const char* k : {"email", "firstname", "lastname", "username"}) {
    json::value* v = o.if_contains(k);
    if (v && v->is_string() && v->get_string() != "erased") {
      *v = "erased";
      changed = true;
    }
  }
  if (json::value* v = o.if_contains("external_id"); v && !v->is_null()) {
    *v = nullptr;
    changed = true;
  }
  if (json::value* v = o.if_contains("custom_fields");
      v && !(v->is_object() && v->get_object().empty())) {
    *v = json::object();
    changed = true;
  }
  return changed;
}

}  // namespace

bool ScrubLearnerJson(json::value& v, const std::string& learner_id) {
  bool changed = false;
  if (json::object* o = v.if_object()) {
    const json::value* id = o->if_contains("id");
    if (id && id->is_string() && id->get_string() == learner_id) {
      changed |= ScrubPersonalFields(*o);
      // learner.updated keeps the old values in "previous": scrub those too.
      if (json::value* prev = o->if_contains("previous"); prev && prev->is_object()) {
        changed |= ScrubPersonalFields(prev->get_object());
      }
    }
    for (auto& kv : *o) {
      changed |= ScrubLearnerJson(kv.value(), learner_id);
    }
  } else if (json::array* a = v.if_array()) {
    for (auto& item : *a) {
      changed |= ScrubLearnerJson(item, learner_id);
    }
  }
  return changed;
}

Status ScrubLearner(store::Tx& tx, const std::string& organization_id,
                    const std::string& learner_id) {
  LW_ASSIGN_OR_RETURN(store::Rows rows,
                      tx.Query("SELECT seq, payload FROM events WHERE organization_id = $1 AND "
                               "learner_id = $2",
                               {organization_id, learner_id}));
  for (std::size_t i = 0; i < rows.size(); ++i) {
    boost::system::error_code ec;
    json::value payload = json::parse(rows[i].Str("payload"), ec);
    if (ec) {
      return core::Internal("stored event payload is not JSON (seq " +
                            std::to_string(rows[i].Int("seq")) + ")");
    }
    if (ScrubLearnerJson(payload, learner_id)) {
      LW_RETURN_IF_ERROR(tx.Exec("UPDATE events SET payload = $1 WHERE organization_id = $2 AND "
                                 "seq = $3",
                                 {json::serialize(payload), organization_id, rows[i].Int("seq")})
                             .status());
    }
  }
  return Status::Ok();
}

const std::vector<std::string>& Catalog() {
  static const std::vector<std::string> kTypes = {
      "learner.created",
      "learner.updated",
      "learner.deleted",
      "learner.erased",
      "learner.banned",
      "learner.unbanned",
      "group.created",
      "group.updated",
      "group.deleted",
      "group.member_added",
      "group.member_removed",
      "department.created",
      "department.updated",
      "department.deleted",
      "department.member_added",
      "department.member_removed",
      "department.member_banned",
      "department.member_unbanned",
      "course.created",
      "course.updated",
      "course.deleted",
      "course.published",
      "course.unpublished",
      "course.archived",
      "path.created",
      "path.updated",
      "path.deleted",
      "path.published",
      "path.archived",
      "enrollment.created",
      "enrollment.progressed",
      "enrollment.completed",
      "enrollment.canceled",
      "enrollment.updated",
      "lesson.completed",
      "quiz.completed",
      "path_enrollment.created",
      "path_enrollment.progressed",
      "path_enrollment.completed",
      "path_enrollment.canceled",
      "task.created",
      "task.resolved",
      "session.created",
      "session.updated",
      "session.canceled",
      "registration.created",
      "registration.updated",
      "registration.canceled",
      "training_request.created",
      "training_request.approved",
      "training_request.rejected",
      "objective.created",
      "objective.updated",
      "objective.deleted",
      "objective_enrollment.created",
      "objective_enrollment.progressed",
      "objective_enrollment.completed",
      "objective_enrollment.canceled",
      "purchase.fulfilled",
      "certificate.issued",
      "certificate.revoked",
      "certificate.expired",
      "webhook.disabled",
      "webhook.test",
  };
  return kTypes;
}

}  // namespace learnwire::events
