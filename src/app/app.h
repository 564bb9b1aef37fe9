// The composition root: builds the concrete store, clock, server and modules from a Config and
// runs a role. Only app/ and cli/ name concrete types.
#pragma once

#include <functional>
#include <memory>
#include <string>

#include "app/config.h"
#include "core/clock.h"
#include "core/status.h"
#include "http/router.h"
#include "store/store.h"

namespace learnwire::app {

// Opens the configured store (creating it and its folder) and applies pending migrations.
core::Result<std::unique_ptr<store::Store>> OpenStore(const Config& config);

// What a test build changes: the clock every module reads, and extra routes (a test binary
// registers one that moves its clock). The production binary passes the system clock and none.
struct Hooks {
  core::Clock* clock = nullptr;
  std::function<void(http::Router&)> extra_routes;
  // When set, Serve stores here what to call after moving `clock` (it wakes the dispatcher),
  // and clears it before returning.
  std::function<void()>* clock_moved = nullptr;
};

// Runs `serve` until SIGTERM/SIGINT; returns the process exit code. The caller must have
// blocked SIGTERM and SIGINT in every thread (BlockStopSignals) before starting any thread.
int Serve(const Config& config, bool demo, const Hooks& hooks);

void BlockStopSignals();
// Waits for SIGTERM or SIGINT (blocked by BlockStopSignals) and returns which came.
int WaitForStopSignal();

// The OpenAPI document built into the binary.
std::string_view OpenApiDocument();

}  // namespace learnwire::app
