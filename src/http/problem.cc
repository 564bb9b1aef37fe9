#include "http/problem.h"

#include <boost/json.hpp>

#include "core/json_text.h"

namespace learnwire::http {
namespace {

constexpr std::string_view kProblemTypeBase = "https://learnwire.dev/problems/";

std::string_view TitleFor(int status) {
  switch (status) {
    case 400:
      return "Malformed request";
    case 401:
      return "Unauthenticated";
    case 403:
      return "Forbidden";
    case 404:
      return "Not found";
    case 405:
      return "Method not allowed";
    case 408:
      return "Request timeout";
    case 409:
      return "Conflict";
    case 410:
      return "Gone";
    case 413:
      return "Payload too large";
    case 414:
      return "URI too long";
    case 415:
      return "Unsupported media type";
    case 422:
      return "Invalid request";
    case 429:
      return "Too many requests";
    case 431:
      return "Request header fields too large";
    case 500:
      return "Internal server error";
    case 501:
      return "Not implemented";
    case 503:
      return "Service unavailable";
    default:
      return status >= 500 ? "Server error" : "Request error";
  }
}

}  // namespace

Response Problem(int status, const std::string& type_suffix, const std::string& detail,
                 const std::vector<FieldError>& errors) {
  boost::json::object body;
  std::string type(kProblemTypeBase);
  type += type_suffix;
  body["type"] = type;
  body["title"] = TitleFor(status);
  body["status"] = status;
  // Details and fields may quote the client's bytes (a parameter name, a field name): the body
  // must stay valid UTF-8 JSON whatever they were.
  body["detail"] = core::ValidUtf8(detail);
  if (!errors.empty()) {
    boost::json::array list;
    list.reserve(errors.size());
    for (const FieldError& e : errors) {
      list.push_back(boost::json::object{{"field", core::ValidUtf8(e.field)},
                                         {"message", core::ValidUtf8(e.message)}});
    }
    body["errors"] = std::move(list);
  }
  Response response;
  response.status = status;
  response.SetHeader("content-type", "application/problem+json");
  response.body = boost::json::serialize(body);
  return response;
}

}  // namespace learnwire::http
