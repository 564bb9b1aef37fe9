// /api/v1/learners: DOMAIN.md "People". Parsing and rendering here; rules in domain/learners.
#include "domain/learners.h"

#include <boost/json.hpp>

#include "api/idempotency.h"
#include "api/list.h"
#include "api/resources.h"
#include "core/ids.h"

namespace learnwire::api {
namespace json = boost::json;
using core::Result;
using http::Response;

namespace {

constexpr std::size_t kMaxBulkItems = 1000;

core::Status NotFoundUnlessLearnerId(const std::string& id) {
  return core::IsValidId(id, "lrn") ? core::Status::Ok() : core::NotFound("learner not found");
}

Response Created(const domain::Learner& l) {
  Response r = http::JsonResponse(201, domain::RenderLearner(l));
  r.SetHeader("location", "/api/v1/learners/" + l.id);
  return r;
}

Response List(RequestContext& ctx) {
  auto params =
      ParseListParams(ctx, {"email", "external_id", "status", "group_id", "department_id", "q"});
  if (!params.ok()) {
    return ctx.Fail(params.status());
  }
  domain::LearnerFilter f;
  auto get = [&](const char* k) -> std::optional<std::string> {
    auto it = params->filters.find(k);
    return it == params->filters.end() ? std::nullopt : std::optional(it->second);
  };
  f.email = get("email");
  f.external_id = get("external_id");
  f.status = get("status");
  f.group_id = get("group_id");
  f.department_id = get("department_id");
  f.q = get("q");
  f.updated_since = params->updated_since;
  if (f.status && *f.status != "active" && *f.status != "banned") {
    return ctx.Fail(core::InvalidArgument("query parameter status: must be active or banned"));
  }
  domain::ListQuery q = domain::LearnerListQuery(ctx.org(), f);
  q.limit = params->limit;
  q.cursor = params->cursor;
  q.exact_count = params->exact_count;
  q.include_deleted = params->include_deleted;
  q.order = params->order;
  return ctx.Query([&](store::Tx& tx) -> Result<Response> {
    LW_ASSIGN_OR_RETURN(
        domain::ListPage page, domain::RunList(tx, q, [](const store::RowView& row) {
          domain::LearnerView l = domain::LearnerViewOfRow(row);
          return domain::RenderedItem{
              l.deleted_at ? domain::RenderLearnerTombstone(l) : domain::RenderLearner(l),
              {true, l.updated_at, std::string(l.id)}};
        }));
    return RenderList(ctx, *params, page);
  });
}

Response Create(RequestContext& ctx) {
  auto body = BodyObject(ctx);
  if (!body.ok()) {
    return ctx.Fail(body.status());
  }
  return ctx.Commit([&](store::Tx& tx) -> Result<Response> {
    LW_ASSIGN_OR_RETURN(domain::Learner l, domain::CreateLearner(tx, ctx.Write(), **body));
    return Created(l);
  });
}

Response Get(RequestContext& ctx) {
  const std::string& id = ctx.req.params.at("id");
  if (auto s = NotFoundUnlessLearnerId(id); !s.ok()) {
    return ctx.Fail(s);
  }
  return ctx.Query([&](store::Tx& tx) -> Result<Response> {
    LW_ASSIGN_OR_RETURN(domain::Learner l, domain::GetLearner(tx, ctx.org(), id));
    return http::JsonResponse(200, domain::RenderLearner(l));
  });
}

Response Update(RequestContext& ctx, domain::WriteMode mode) {
  const std::string& id = ctx.req.params.at("id");
  auto body = BodyObject(ctx);
  if (!body.ok()) {
    return ctx.Fail(body.status());
  }
  if (auto s = NotFoundUnlessLearnerId(id); !s.ok()) {
    return ctx.Fail(s);
  }
  return ctx.Commit([&](store::Tx& tx) -> Result<Response> {
    LW_ASSIGN_OR_RETURN(domain::Learner l,
                        domain::UpdateLearner(tx, ctx.Write(), id, **body, mode));
    return http::JsonResponse(200, domain::RenderLearner(l));
  });
}

Response Delete(RequestContext& ctx) {
  const std::string& id = ctx.req.params.at("id");
  if (auto s = NotFoundUnlessLearnerId(id); !s.ok()) {
    return ctx.Fail(s);
  }
  return ctx.Commit([&](store::Tx& tx) -> Result<Response> {
    LW_RETURN_IF_ERROR(domain::DeleteLearner(tx, ctx.Write(), id));
    Response r;
    r.status = 204;
    return r;
  });
}

// ban / unban / erase take no body fields.
Response Action(RequestContext& ctx, const std::string& action) {
  const std::string& id = ctx.req.params.at("id");
  if (ctx.body.is_object()) {
    if (auto s = OnlyFields(ctx.body.get_object(), {}, action); !s.ok()) {
      return ctx.Fail(s);
    }
  }
  if (auto s = NotFoundUnlessLearnerId(id); !s.ok()) {
    return ctx.Fail(s);
  }
  return ctx.Commit([&](store::Tx& tx) -> Result<Response> {
    domain::WriteContext w = ctx.Write();
    if (action == "erase") {
      LW_ASSIGN_OR_RETURN(domain::Learner l, domain::EraseLearner(tx, w, id));
      LW_RETURN_IF_ERROR(ScrubIdempotentResponses(tx, ctx.org(), id));
      return http::JsonResponse(200, domain::RenderLearner(l));
    }
    LW_ASSIGN_OR_RETURN(domain::Learner l, domain::SetLearnerBanned(tx, w, id, action == "ban"));
    return http::JsonResponse(200, domain::RenderLearner(l));
  });
}

Response Bulk(RequestContext& ctx) {
  auto body = BodyObject(ctx);
  if (!body.ok()) {
    return ctx.Fail(body.status());
  }
  std::vector<core::FieldError> errors;
  for (const auto& kv : **body) {
    if (kv.key() != "learners") {
      errors.push_back({std::string(kv.key()), "is not a field of a bulk request"});
    }
  }
  const json::value* items = (*body)->if_contains("learners");
  if (!items || !items->is_array()) {
    errors.push_back({"learners", "is required: an array of learners"});
  } else if (items->get_array().empty() || items->get_array().size() > kMaxBulkItems) {
    errors.push_back({"learners", "must hold 1 to 1000 items"});
  }
  if (!errors.empty()) {
    return ctx.Fail(core::Status::Invalid(std::move(errors)));
  }
  std::vector<json::value> list(items->get_array().begin(), items->get_array().end());
  return ctx.Commit([&](store::Tx& tx) -> Result<Response> {
    domain::WriteContext w = ctx.Write();
    w.bulk_id = ctx.services.ids->New("blk");
    LW_ASSIGN_OR_RETURN(auto results, domain::BulkUpsertLearners(tx, w, list));
    json::array out;
    for (std::size_t i = 0; i < results.size(); ++i) {
      json::object item{{"index", i}, {"status", results[i].status}};
      if (results[i].id) {
        item["id"] = *results[i].id;
      }
      if (!results[i].errors.empty() || !results[i].message.empty()) {
        json::array errs;
        for (const auto& e : results[i].errors) {
          errs.push_back(json::object{{"field", e.field}, {"message", e.message}});
        }
        if (errs.empty()) {
          errs.push_back(json::object{{"field", ""}, {"message", results[i].message}});
        }
        item["errors"] = std::move(errs);
      }
      out.push_back(std::move(item));
    }
    return Json(200, json::object{{"bulk_id", *w.bulk_id}, {"results", std::move(out)}});
  });
}

}  // namespace

void RegisterLearners(http::Router& router, const Services& s) {
  const std::string base = "/api/v1/learners";
  Route(router, s, "GET", base, Access::kRead, List);
  Route(router, s, "POST", base, Access::kWrite, Create);
  Route(router, s, "POST", base + "/bulk", Access::kWrite, Bulk);
  Route(router, s, "GET", base + "/{id}", Access::kRead, Get);
  Route(router, s, "PATCH", base + "/{id}", Access::kWrite,
        [](RequestContext& c) { return Update(c, domain::WriteMode::kPatch); });
  Route(router, s, "PUT", base + "/{id}", Access::kWrite,
        [](RequestContext& c) { return Update(c, domain::WriteMode::kReplace); });
  Route(router, s, "DELETE", base + "/{id}", Access::kWrite, Delete);
  for (const char* action : {"ban", "unban", "erase"}) {
    Route(router, s, "POST", base + "/{id}/" + action, Access::kWrite,
          [action](RequestContext& c) { return Action(c, action); });
  }
}

}  // namespace learnwire::api
