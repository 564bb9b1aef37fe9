// Router: method + path pattern ("/api/v1/learners/{id}") to handler. Routes are added at start-up,
// then Match is const and safe from many threads.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "http/message.h"

namespace learnwire::http {

using Handler = std::function<Response(Request&)>;

class Router {
 public:
  // `name` is the route label used in metrics (defaults to the pattern).
  void Add(std::string method, std::string pattern, Handler handler, std::string name = "");

  struct Match {
    enum class Kind { kFound, kNotFound, kMethodNotAllowed } kind = Kind::kNotFound;
    const Handler* handler = nullptr;
    std::string route;  // the matched pattern (for metrics)
    std::map<std::string, std::string> params;
    std::string allow;  // for 405: "GET, POST"
  };
  Match Find(const std::string& method, const std::string& path) const;

 private:
  struct Route {
    std::string method;
    std::vector<std::string> segments;  // "{x}" marks a parameter
    std::string pattern;
    std::string name;
    Handler handler;
  };
  std::vector<Route> routes_;
};

}  // namespace learnwire::http
