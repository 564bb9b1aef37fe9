// /api/v1/api-keys (scope admin): create (the key shown once), list, get, revoke.
#include <boost/json.hpp>

#include "api/key_cache.h"
#include "api/list.h"
#include "api/resources.h"
#include "core/ids.h"
#include "core/time_format.h"
#include "domain/common.h"

namespace learnwire::api {
namespace json = boost::json;
using core::Result;
using http::Response;

namespace {

json::value OptTime(const std::optional<int64_t>& t) {
  return t ? json::value(core::FormatTime(*t)) : json::value(nullptr);
}

json::object KeyJson(const domain::ApiKey& k) {
  json::array scopes;
  for (const auto& s : domain::ScopeNames(k.scopes)) {
    scopes.push_back(json::string(s));
  }
  return {{"id", k.id},
          {"name", k.name},
          {"prefix", "lw_" + k.id.substr(4)},
          {"scopes", std::move(scopes)},
          {"created_at", core::FormatTime(k.created_at)},
          {"updated_at", core::FormatTime(k.updated_at)},
          {"expires_at", OptTime(k.expires_at)},
          {"last_used_at", OptTime(k.last_used_at)}};
}

Response Create(RequestContext& ctx) {
  if (!ctx.body.is_object()) {
    return ctx.Fail(core::Status::Invalid("", "the body must be a JSON object"));
  }
  const json::object& body = ctx.body.get_object();
  std::vector<core::FieldError> errors;
  std::string name;
  std::set<domain::Scope> scopes = domain::DefaultScopes();
  std::optional<int64_t> expires_at;
  for (const auto& kv : body) {
    if (kv.key() != "name" && kv.key() != "scopes" && kv.key() != "expires_at") {
      errors.push_back({std::string(kv.key()), "is not a field of an API key"});
    }
  }
  const json::value* v = body.if_contains("name");
  if (!v || !v->is_string()) {
    errors.push_back({"name", "is required: a string"});
  } else if (auto why = domain::CheckText(std::string(v->get_string()), 200, false)) {
    errors.push_back({"name", *why});
  } else {
    name = std::string(v->get_string());
  }
  if (const json::value* s = body.if_contains("scopes")) {
    scopes.clear();
    if (!s->is_array() || s->get_array().empty()) {
      errors.push_back({"scopes", "must be a non-empty array of read, write, webhooks, admin"});
    } else {
      for (std::size_t i = 0; i < s->get_array().size(); ++i) {
        const json::value& item = s->get_array()[i];
        auto sc =
            item.is_string() ? domain::ParseScope(std::string(item.get_string())) : std::nullopt;
        if (!sc) {
          errors.push_back({"scopes", "item " + std::to_string(i) +
                                          " must be one of read, write, webhooks, admin"});
        } else {
          scopes.insert(*sc);
        }
      }
    }
  }
  if (const json::value* e = body.if_contains("expires_at"); e && !e->is_null()) {
    auto t = e->is_string() ? core::ParseTime(std::string(e->get_string())) : std::nullopt;
    if (!t) {
      errors.push_back({"expires_at", "must be an RFC 3339 time or null"});
    } else if (*t <= ctx.Now()) {
      errors.push_back({"expires_at", "must be in the future"});
    } else {
      expires_at = *t;
    }
  }
  if (!errors.empty()) {
    return ctx.Fail(core::Status::Invalid(std::move(errors)));
  }
  return ctx.Commit([&](store::Tx& tx) -> Result<Response> {
    LW_ASSIGN_OR_RETURN(domain::CreatedKey created,
                        domain::CreateKey(tx, {ctx.services.ids, ctx.services.clock}, ctx.org(),
                                          name, scopes, expires_at));
    json::object out = KeyJson(created.key);
    ctx.ShowSecretOnce(out, "key", created.secret_key);
    Response r = Json(201, out);
    r.SetHeader("location", "/api/v1/api-keys/" + created.key.id);
    return r;
  });
}

Response List(RequestContext& ctx) {
  auto params = ParseListParams(ctx, {}, false);
  if (!params.ok()) {
    return ctx.Fail(params.status());
  }
  return ctx.Query([&](store::Tx& tx) -> Result<Response> {
    domain::ListQuery q;
    q.table = "api_keys";
    q.columns = "id";
    q.where = "organization_id = $1 AND revoked_at IS NULL";
    q.params = {ctx.org()};
    q.soft_delete = false;  // revoked keys are filtered above
    q.cursor = params->cursor;
    q.limit = params->limit;
    q.exact_count = params->exact_count;
    LW_ASSIGN_OR_RETURN(domain::ListPage page,
                        domain::RunList(tx, q, [](const store::RowView& row) {
                          return domain::RenderedItem{"", {true, 0, std::string(row.Text(0))}};
                        }));
    for (auto& item : page.items) {
      LW_ASSIGN_OR_RETURN(domain::ApiKey k, domain::GetKey(tx, ctx.org(), item.position.id));
      item.json = json::serialize(KeyJson(k));
    }
    return RenderList(ctx, *params, page);
  });
}

Response Get(RequestContext& ctx) {
  const std::string& id = ctx.req.params.at("id");
  if (!core::IsValidId(id, "key")) {
    return ctx.Fail(core::NotFound("API key not found"));
  }
  return ctx.Query([&](store::Tx& tx) -> Result<Response> {
    LW_ASSIGN_OR_RETURN(domain::ApiKey k, domain::GetKey(tx, ctx.org(), id));
    return Json(200, KeyJson(k));
  });
}

Response Delete(RequestContext& ctx) {
  const std::string& id = ctx.req.params.at("id");
  if (!core::IsValidId(id, "key")) {
    return ctx.Fail(core::NotFound("API key not found"));
  }
  Response r = ctx.Commit([&](store::Tx& tx) -> Result<Response> {
    LW_RETURN_IF_ERROR(
        domain::RevokeKey(tx, {ctx.services.ids, ctx.services.clock}, ctx.org(), id));
    Response r;
    r.status = 204;
    return r;
  });
  // Refused at once on this node; other nodes' caches let it go within a second.
  ctx.services.key_cache->Evict(id);
  return r;
}

}  // namespace

void RegisterApiKeys(http::Router& router, const Services& s) {
  Route(router, s, "GET", "/api/v1/api-keys", Access::kAdmin, List);
  Route(router, s, "POST", "/api/v1/api-keys", Access::kAdmin, Create);
  Route(router, s, "GET", "/api/v1/api-keys/{id}", Access::kAdmin, Get);
  Route(router, s, "DELETE", "/api/v1/api-keys/{id}", Access::kAdmin, Delete);
}

}  // namespace learnwire::api
