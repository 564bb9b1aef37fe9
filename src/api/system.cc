// Public operational endpoints: health, readiness, metrics, the OpenAPI document and /docs.
#include <boost/json.hpp>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "api/resources.h"

namespace learnwire::api {
namespace json = boost::json;
using http::Response;

namespace {

constexpr const char* kDocsPage = R"html(<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>Learnwire API</title>
<link rel="stylesheet" href="/docs/swagger-ui.css">
</head>
<body>
<div id="swagger-ui"></div>
<script src="/docs/swagger-ui-bundle.js"></script>
<script src="/docs/swagger-ui-init.js"></script>
</body>
</html>
)html";

// The console comes with issue 9; until then "/" says where things are.
constexpr const char* kHomePage = R"html(<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>Learnwire</title></head>
<body>
<h1>Learnwire</h1>
<p>The API is running. The administrators' console is not part of this build yet.</p>
<ul>
<li><a href="/docs">API documentation</a> (Swagger UI)</li>
<li><a href="/openapi.json">OpenAPI document</a></li>
<li><a href="/healthz">Health</a></li>
</ul>
</body>
</html>
)html";

// Kept apart from the page so a strict Content-Security-Policy needs no inline script.
constexpr const char* kDocsInit =
    "window.ui = SwaggerUIBundle({url: '/openapi.json', dom_id: '#swagger-ui', "
    "deepLinking: true});\n";

Response Text(int status, std::string content_type, std::string body) {
  Response r;
  r.status = status;
  r.SetHeader("content-type", std::move(content_type));
  r.body = std::move(body);
  return r;
}

std::string ContentType(const std::string& name) {
  if (name.ends_with(".js")) {
    return "text/javascript; charset=utf-8";
  }
  if (name.ends_with(".css")) {
    return "text/css; charset=utf-8";
  }
  if (name.ends_with(".png")) {
    return "image/png";
  }
  if (name.ends_with(".map") || name.ends_with(".json")) {
    return "application/json";
  }
  return "application/octet-stream";
}

}  // namespace

void RegisterOperations(http::Router& router, const Services& s, bool with_metrics) {
  const Services* sp = &s;
  Route(router, s, "GET", "/healthz", Access::kPublic, [](RequestContext&) {
    return Json(200, json::object{{"status", "ok"}});
  });
  Route(router, s, "GET", "/readyz", Access::kPublic, [sp](RequestContext&) {
    core::Status st = sp->store->Ready();
    if (!st.ok()) {
      return http::Problem(503, "unavailable", "not ready: " + st.message());
    }
    if (sp->ready && !sp->ready()) {
      return http::Problem(503, "unavailable", "not ready: the worker loop is stalled");
    }
    return Json(200, json::object{{"status", "ready"}});
  });
  if (with_metrics) {
    Route(router, s, "GET", "/metrics", Access::kPublic, [sp](RequestContext&) {
      if (sp->refresh_metrics) {
        sp->refresh_metrics();
      }
      return Text(200, std::string(http::Metrics::kContentType), sp->metrics->Render());
    });
  }
}

void RegisterDocs(http::Router& router, const Services& s) {
  const Services* sp = &s;
  Route(router, s, "GET", "/", Access::kPublic,
        [](RequestContext&) { return Text(200, "text/html; charset=utf-8", kHomePage); });
  Route(router, s, "GET", "/openapi.json", Access::kPublic,
        [sp](RequestContext&) { return http::JsonResponse(200, sp->openapi_json); });
  Route(router, s, "GET", "/docs", Access::kPublic,
        [](RequestContext&) { return Text(200, "text/html; charset=utf-8", kDocsPage); });
  Route(router, s, "GET", "/docs/{file}", Access::kPublic, [sp](RequestContext& ctx) {
    const std::string& file = ctx.req.params.at("file");
    if (file == "swagger-ui-init.js") {
      return Text(200, ContentType(file), kDocsInit);
    }
    // Only plain file names are served: no folders, no dot files.
    bool plain =
        !file.empty() && file[0] != '.' &&
        file.find_first_not_of("abcdefghijklmnopqrstuvwxyz0123456789-_.") == std::string::npos;
    if (!plain) {
      return http::Problem(404, "not-found", "no such file");
    }
    std::optional<std::string> data;
    if (!sp->web_root.empty()) {
      std::ifstream in(std::filesystem::path(sp->web_root) / "docs" / file, std::ios::binary);
      if (in) {
        std::ostringstream buf;
        buf << in.rdbuf();
        data = buf.str();
      }
    }
    if (!data && sp->asset) {
      if (auto embedded = sp->asset("docs/" + file)) {
        data = std::string(*embedded);
      }
    }
    if (!data) {
      return http::Problem(404, "not-found", "no such file");
    }
    Response r = Text(200, ContentType(file), std::move(*data));
    r.SetHeader("cache-control", "public, max-age=3600");
    return r;
  });
}

}  // namespace learnwire::api
