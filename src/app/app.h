// The composition root: builds the concrete store, clock, server and modules from a Config and
// runs a role. Only app/ and cli/ name concrete types.
#pragma once

#include <memory>
#include <string>

#include "app/config.h"
#include "core/status.h"
#include "store/store.h"

namespace learnwire::app {

// Opens the configured store (creating it and its folder) and applies pending migrations.
core::Result<std::unique_ptr<store::Store>> OpenStore(const Config& config);

// Runs `serve` until SIGTERM/SIGINT; returns the process exit code. The caller must have
// blocked SIGTERM and SIGINT in every thread (BlockStopSignals) before starting any thread.
int Serve(const Config& config, bool demo);

void BlockStopSignals();

// The OpenAPI document built into the binary.
std::string_view OpenApiDocument();

}  // namespace learnwire::app
