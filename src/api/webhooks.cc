// /api/v1/webhooks (WEBHOOKS.md §1, §6): subscriptions, their secrets, test sends and replays.
// Parsing and rendering here; the rules in delivery/webhooks.
#include "delivery/webhooks.h"

#include <boost/json.hpp>
#include <cmath>

#include "api/attempts.h"
#include "api/list.h"
#include "api/resources.h"
#include "core/ids.h"
#include "core/time_format.h"
#include "delivery/dispatcher.h"
#include "delivery/signer.h"
#include "events/outbox.h"

namespace learnwire::api {
namespace json = boost::json;
using core::Result;
using http::Response;

namespace {

constexpr int64_t kMaxReplay = 10'000;

delivery::Writer WriterOf(const RequestContext& ctx) {
  return {ctx.services.ids, ctx.services.clock, ctx.org()};
}

const delivery::WebhookRules& Rules(const RequestContext& ctx) {
  return *ctx.services.webhook_rules;
}

core::Status NotFoundUnlessWebhookId(const std::string& id) {
  return core::IsValidId(id, "wh") ? core::Status::Ok() : core::NotFound("webhook not found");
}

// An integer, also when written as a number with no fraction (5.0).
std::optional<int64_t> WholeNumber(const json::value& v) {
  if (v.is_int64()) {
    return v.get_int64();
  }
  if (v.is_double() && std::abs(v.get_double()) < 1e15 &&
      v.get_double() == static_cast<double>(static_cast<int64_t>(v.get_double()))) {
    return static_cast<int64_t>(v.get_double());
  }
  return std::nullopt;
}

Response List(RequestContext& ctx) {
  auto params = ParseListParams(ctx, {"active"});
  if (!params.ok()) {
    return ctx.Fail(params.status());
  }
  domain::ListQuery q;
  q.table = "webhooks";
  q.columns = std::string(delivery::kWebhookColumns) + ", deleted_at";
  q.where = "organization_id = $1";
  q.params = {ctx.org()};
  if (auto it = params->filters.find("active"); it != params->filters.end()) {
    if (it->second != "true" && it->second != "false") {
      return ctx.Fail(core::InvalidArgument("query parameter active: must be true or false"));
    }
    q.where += " AND active = $2";
    q.params.push_back(it->second == "true");
  }
  q.limit = params->limit;
  q.cursor = params->cursor;
  q.exact_count = params->exact_count;
  return ctx.Query([&](store::Tx& tx) -> Result<Response> {
    LW_ASSIGN_OR_RETURN(
        domain::ListPage page, domain::RunList(tx, q, [](const store::RowView& row) {
          delivery::Webhook w = delivery::WebhookOfRow(row);
          return domain::RenderedItem{json::serialize(delivery::RenderWebhook(w)), {true, 0, w.id}};
        }));
    return RenderList(ctx, *params, page);
  });
}

Response Create(RequestContext& ctx) {
  auto body = BodyObject(ctx);
  if (!body.ok()) {
    return ctx.Fail(body.status());
  }
  const delivery::WebhookRules rules = delivery::WithUrlResolved(Rules(ctx), **body);
  return ctx.Commit([&](store::Tx& tx) -> Result<Response> {
    LW_ASSIGN_OR_RETURN(delivery::CreatedWebhook created,
                        delivery::CreateWebhook(tx, WriterOf(ctx), rules, **body));
    json::object out = delivery::RenderWebhook(created.webhook);
    // Shown once here (and by GET /secret): a replay of this request does not repeat it. An
    // ed25519 subscription has no secret to show: its public_key is in the body.
    if (!created.secret.empty()) {
      ctx.ShowSecretOnce(out, "secret", created.secret);
    }
    Response r = Json(201, out);
    r.SetHeader("location", "/api/v1/webhooks/" + created.webhook.id);
    return r;
  });
}

Response Get(RequestContext& ctx) {
  const std::string& id = ctx.req.params.at("id");
  if (auto s = NotFoundUnlessWebhookId(id); !s.ok()) {
    return ctx.Fail(s);
  }
  return ctx.Query([&](store::Tx& tx) -> Result<Response> {
    LW_ASSIGN_OR_RETURN(delivery::Webhook w, delivery::GetWebhook(tx, ctx.org(), id));
    return Json(200, delivery::RenderWebhook(w));
  });
}

Response Update(RequestContext& ctx, delivery::WriteMode mode) {
  const std::string& id = ctx.req.params.at("id");
  auto body = BodyObject(ctx);
  if (!body.ok()) {
    return ctx.Fail(body.status());
  }
  if (auto s = NotFoundUnlessWebhookId(id); !s.ok()) {
    return ctx.Fail(s);
  }
  const delivery::WebhookRules rules = delivery::WithUrlResolved(Rules(ctx), **body);
  return ctx.Commit([&](store::Tx& tx) -> Result<Response> {
    LW_ASSIGN_OR_RETURN(delivery::Webhook w,
                        delivery::UpdateWebhook(tx, WriterOf(ctx), rules, id, **body, mode));
    return Json(200, delivery::RenderWebhook(w));
  });
}

Response Delete(RequestContext& ctx) {
  const std::string& id = ctx.req.params.at("id");
  if (auto s = NotFoundUnlessWebhookId(id); !s.ok()) {
    return ctx.Fail(s);
  }
  return ctx.Commit([&](store::Tx& tx) -> Result<Response> {
    LW_RETURN_IF_ERROR(delivery::DeleteWebhook(tx, WriterOf(ctx), id));
    Response r;
    r.status = 204;
    return r;
  });
}

Response GetSecret(RequestContext& ctx) {
  const std::string& id = ctx.req.params.at("id");
  if (auto s = NotFoundUnlessWebhookId(id); !s.ok()) {
    return ctx.Fail(s);
  }
  return ctx.Query([&](store::Tx& tx) -> Result<Response> {
    LW_ASSIGN_OR_RETURN(delivery::Webhook w, delivery::GetWebhook(tx, ctx.org(), id));
    LW_ASSIGN_OR_RETURN(std::vector<delivery::StoredSecret> secrets,
                        delivery::SigningSecrets(tx, w.id, ctx.Now()));
    json::object out;
    json::array previous;
    for (const delivery::StoredSecret& s : secrets) {
      // An HMAC secret as it is; an ed25519 key pair by its public key (the private key never
      // leaves the server). After a scheme change, previous keys may be of the other kind.
      auto key = delivery::DecodeSigningKey(s.secret);
      if (!key.ok()) {
        return key.status();
      }
      const bool ed25519 = key->kind == delivery::SigningKey::Kind::kEd25519;
      json::object item{{ed25519 ? "public_key" : "secret",
                         ed25519 ? delivery::PublicKeyText(key->key) : s.secret}};
      if (!s.expires_at) {
        out.insert(item.begin(), item.end());
      } else {
        item["expires_at"] = core::FormatTime(*s.expires_at);
        previous.push_back(std::move(item));
      }
    }
    out["previous"] = std::move(previous);
    return Json(200, out);
  });
}

Response RotateSecret(RequestContext& ctx) {
  const std::string& id = ctx.req.params.at("id");
  auto body = BodyObject(ctx);
  if (!body.ok()) {
    return ctx.Fail(body.status());
  }
  if (auto s = OnlyFields(**body, {"overlap_s"}, "rotate-secret"); !s.ok()) {
    return ctx.Fail(s);
  }
  int64_t overlap_s = delivery::kDefaultOverlapS;
  if (const json::value* v = (*body)->if_contains("overlap_s")) {
    std::optional<int64_t> given = WholeNumber(*v);
    if (!given || *given < 0 || *given > delivery::kMaxOverlapS) {
      return ctx.Fail(core::Status::Invalid("overlap_s", "must be an integer from 0 to 604800"));
    }
    overlap_s = *given;
  }
  if (auto s = NotFoundUnlessWebhookId(id); !s.ok()) {
    return ctx.Fail(s);
  }
  return ctx.Commit([&](store::Tx& tx) -> Result<Response> {
    LW_ASSIGN_OR_RETURN(delivery::RotatedSecret rotated,
                        delivery::RotateSecret(tx, WriterOf(ctx), id, overlap_s));
    json::object out{{"previous_expires_at", core::FormatTime(rotated.previous_expires_at)}};
    if (rotated.public_key) {
      out["public_key"] = *rotated.public_key;
    } else {
      ctx.ShowSecretOnce(out, "secret", *rotated.secret);
    }
    return Json(200, out);
  });
}

Response Test(RequestContext& ctx) {
  const std::string& id = ctx.req.params.at("id");
  auto body = BodyObject(ctx);
  if (!body.ok()) {
    return ctx.Fail(body.status());
  }
  if (auto s = OnlyFields(**body, {}, "test"); !s.ok()) {
    return ctx.Fail(s);
  }
  if (auto s = NotFoundUnlessWebhookId(id); !s.ok()) {
    return ctx.Fail(s);
  }
  AttemptSlot slot(ctx);
  if (!slot.ok()) {
    return slot.Refused();
  }
  std::string delivery_id;
  core::Status made = ctx.services.store->Write([&](store::Tx& tx) -> core::Status {
    LW_ASSIGN_OR_RETURN(delivery::Webhook w, delivery::GetWebhook(tx, ctx.org(), id));
    events::NewEvent event;
    event.organization_id = ctx.org();
    event.type = "webhook.test";
    event.actor = ctx.Write().actor;
    event.data = json::object{{"id", w.id}, {"name", w.name}};
    events::EventContext ec{ctx.services.ids, ctx.services.clock, nullptr};
    LW_ASSIGN_OR_RETURN(std::string event_id, events::Append(tx, ec, std::move(event)));
    events::NewDelivery d;
    d.organization_id = ctx.org();
    d.webhook_id = w.id;
    d.event_id = event_id;
    d.event_type = "webhook.test";
    d.now_ms = ctx.Now();
    d.test = true;
    LW_ASSIGN_OR_RETURN(delivery_id, events::ScheduleDelivery(tx, *ctx.services.ids, d));
    return core::Status::Ok();
  });
  if (!made.ok()) {
    return ctx.Fail(made);
  }
  Result<delivery::AttemptSummary> attempt =
      AwaitAttempt(ctx, delivery_id, delivery::AttemptKind::kTest);
  if (!attempt.ok()) {
    return ctx.Fail(attempt.status());
  }
  json::object out{{"delivery_id", attempt->delivery_id},
                   {"status", attempt->status ? json::value(*attempt->status) : nullptr},
                   {"duration_ms", attempt->duration_ms},
                   {"response_excerpt", attempt->response_excerpt},
                   {"error", attempt->error ? json::value(*attempt->error) : nullptr}};
  return Json(200, out);
}

Response Replay(RequestContext& ctx) {
  const std::string& id = ctx.req.params.at("id");
  auto body = BodyObject(ctx);
  if (!body.ok()) {
    return ctx.Fail(body.status());
  }
  if (auto s = OnlyFields(**body, {"since", "until", "states", "include_missed"}, "replay");
      !s.ok()) {
    return ctx.Fail(s);
  }
  auto request = ParseReplay(**body, ctx.Now());
  if (!request.ok()) {
    return ctx.Fail(request.status());
  }
  if (auto s = NotFoundUnlessWebhookId(id); !s.ok()) {
    return ctx.Fail(s);
  }
  return ctx.Commit([&](store::Tx& tx) -> Result<Response> {
    LW_ASSIGN_OR_RETURN(delivery::Webhook w, delivery::GetWebhook(tx, ctx.org(), id));
    if (!w.active) {
      return core::Conflict("the webhook is inactive: activate it before replaying");
    }
    LW_ASSIGN_OR_RETURN(int64_t scheduled, ScheduleReplay(tx, ctx, w, *request, kMaxReplay));
    if (scheduled > 0 && ctx.services.delivery_listener) {
      events::DeliveryListener* listener = ctx.services.delivery_listener;
      tx.AfterCommit([listener] { listener->DeliveriesScheduled(); });
    }
    return Json(200, json::object{{"scheduled", scheduled}});
  });
}

}  // namespace

void RegisterWebhooks(http::Router& router, const Services& services) {
  const std::string base = "/api/v1/webhooks";
  Route(router, services, "GET", base, Access::kWebhooks, List);
  Route(router, services, "POST", base, Access::kWebhooks, Create);
  Route(router, services, "GET", base + "/{id}", Access::kWebhooks, Get);
  Route(router, services, "PUT", base + "/{id}", Access::kWebhooks,
        [](RequestContext& ctx) { return Update(ctx, delivery::WriteMode::kReplace); });
  Route(router, services, "PATCH", base + "/{id}", Access::kWebhooks,
        [](RequestContext& ctx) { return Update(ctx, delivery::WriteMode::kPatch); });
  Route(router, services, "DELETE", base + "/{id}", Access::kWebhooks, Delete);
  Route(router, services, "GET", base + "/{id}/secret", Access::kWebhooks, GetSecret);
  Route(router, services, "POST", base + "/{id}/rotate-secret", Access::kWebhooks, RotateSecret);
  Route(router, services, "POST", base + "/{id}/test", Access::kWebhooks, Test);
  Route(router, services, "POST", base + "/{id}/replay", Access::kWebhooks, Replay);
}

}  // namespace learnwire::api
