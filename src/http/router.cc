#include "http/router.h"

#include <algorithm>
#include <set>
#include <string_view>

namespace learnwire::http {
namespace {

// Splits "/a/b" into {"a", "b"}. "/" gives {}; "/a/" gives {"a", ""} so that a trailing slash
// never matches a pattern without one (strict matching).
std::vector<std::string_view> SplitPath(std::string_view path) {
  std::vector<std::string_view> segments;
  if (path.empty() || path.front() != '/') {
    segments.emplace_back(path);  // no pattern starts without '/', so nothing will match
    return segments;
  }
  path.remove_prefix(1);
  if (path.empty()) {
    return segments;
  }
  while (true) {
    std::size_t slash = path.find('/');
    segments.push_back(path.substr(0, slash));
    if (slash == std::string_view::npos) {
      break;
    }
    path.remove_prefix(slash + 1);
  }
  return segments;
}

bool IsParam(std::string_view segment) {
  return segment.size() >= 2 && segment.front() == '{' && segment.back() == '}';
}

bool Matches(const std::vector<std::string>& pattern, const std::vector<std::string_view>& path) {
  if (pattern.size() != path.size()) {
    return false;
  }
  for (std::size_t i = 0; i < pattern.size(); ++i) {
    if (IsParam(pattern[i])) {
      if (path[i].empty()) {
        return false;
      }
    } else if (pattern[i] != path[i]) {
      return false;
    }
  }
  return true;
}

// True when `a` is more specific than `b` (both match the same path): at the first position
// where one has a literal segment and the other a parameter, the literal wins.
bool MoreSpecific(const std::vector<std::string>& a, const std::vector<std::string>& b) {
  for (std::size_t i = 0; i < a.size() && i < b.size(); ++i) {
    bool a_param = IsParam(a[i]);
    bool b_param = IsParam(b[i]);
    if (a_param != b_param) {
      return !a_param;
    }
  }
  return false;
}

}  // namespace

void Router::Add(std::string method, std::string pattern, Handler handler, std::string name) {
  Route route;
  route.method = std::move(method);
  for (std::string_view segment : SplitPath(pattern)) {
    route.segments.emplace_back(segment);
  }
  route.name = name.empty() ? pattern : std::move(name);
  route.pattern = std::move(pattern);
  route.handler = std::move(handler);
  routes_.push_back(std::move(route));
}

// Among the routes whose pattern matches the path, the most specific one registered for the
// method wins. When none is registered for the method, the answer is 405 with every method any
// matching pattern accepts, so `Allow` lists exactly what would be served on this path.
Router::Match Router::Find(const std::string& method, const std::string& path) const {
  std::vector<std::string_view> segments = SplitPath(path);
  const Route* best = nullptr;
  std::set<std::string> allowed;
  for (const Route& route : routes_) {
    if (!Matches(route.segments, segments)) {
      continue;
    }
    allowed.insert(route.method);
    if (route.method == method &&
        (best == nullptr || MoreSpecific(route.segments, best->segments))) {
      best = &route;
    }
  }

  Match match;
  if (best != nullptr) {
    match.kind = Match::Kind::kFound;
    match.handler = &best->handler;
    match.route = best->name;
    for (std::size_t i = 0; i < segments.size(); ++i) {
      const std::string& segment = best->segments[i];
      if (IsParam(segment)) {
        match.params.emplace(segment.substr(1, segment.size() - 2), std::string(segments[i]));
      }
    }
    return match;
  }
  if (allowed.empty()) {
    match.kind = Match::Kind::kNotFound;
    return match;
  }
  match.kind = Match::Kind::kMethodNotAllowed;
  for (const std::string& m : allowed) {
    if (!match.allow.empty()) {
      match.allow += ", ";
    }
    match.allow += m;
  }
  return match;
}

}  // namespace learnwire::http
