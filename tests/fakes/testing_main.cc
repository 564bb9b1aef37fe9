// learnwire-testing: the real program with one difference, its clock. Time stands still at the
// moment of start until a test moves it with POST /__test/clock {"advance_ms": N} (which also
// wakes the webhook dispatcher), so the black-box suite checks expiries, refills, retry
// schedules and time windows without sleeping. Built for tests only; never installed.
#include <boost/json.hpp>
#include <functional>

#include "cli/cli.h"
#include "core/clock.h"
#include "http/problem.h"

namespace {

namespace json = boost::json;
using learnwire::http::Request;
using learnwire::http::Response;

Response Advance(learnwire::core::ManualClock& clock, const std::function<void()>& moved,
                 Request& req) {
  boost::system::error_code ec;
  json::value body = json::parse(req.body, ec);
  const json::value* ms =
      (!ec && body.is_object()) ? body.get_object().if_contains("advance_ms") : nullptr;
  if (!ms || !ms->is_int64() || ms->as_int64() < 0) {
    return learnwire::http::Problem(422, "validation", "advance_ms: a non-negative integer");
  }
  clock.Advance(std::chrono::milliseconds(ms->as_int64()));
  if (moved) {
    moved();  // deliveries may have become due
  }
  return learnwire::http::JsonResponse(
      200, json::serialize(json::object{{"now_ms", learnwire::core::ToUnixMs(clock.Now())}}));
}

}  // namespace

int main(int argc, char** argv) {
  learnwire::core::SystemClock system;
  learnwire::core::ManualClock clock(learnwire::core::ToUnixMs(system.Now()));
  learnwire::app::Hooks hooks;
  std::function<void()> clock_moved;
  hooks.clock = &clock;
  hooks.clock_moved = &clock_moved;
  hooks.extra_routes = [&clock, &clock_moved](learnwire::http::Router& router) {
    router.Add("POST", "/__test/clock",
               [&clock, &clock_moved](Request& req) { return Advance(clock, clock_moved, req); });
  };
  return learnwire::cli::Run(argc, argv, hooks);
}
