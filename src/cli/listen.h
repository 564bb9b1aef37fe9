// `learnwire listen` (PRODUCT.md "The CLI"): a local webhook receiver for integrators. It binds
// 127.0.0.1, verifies every request like a Standard Webhooks receiver (cli/verify.h, with the
// timestamp tolerance), answers 204 or 401, and prints one line per request to stdout.
#pragma once

#include <optional>
#include <string>

#include "core/clock.h"

namespace learnwire::cli {

// Runs until SIGINT/SIGTERM (which the caller has blocked in every thread, as app::Serve needs);
// returns the exit code: 0 after a signal, 1 when the port cannot be bound, 2 for a bad key
// option. Prints "listening on http://127.0.0.1:PORT" to stderr once bound (port 0 = any free one).
int RunListen(int port, const std::optional<std::string>& secret,
              const std::optional<std::string>& public_key, bool json, const core::Clock& clock);

}  // namespace learnwire::cli
