// `serve --demo`: when the store has no organization, creates a demo organization with sample
// data and prints its credentials once to stderr, as plain text outside the log stream.
#pragma once

#include "app/config.h"
#include "core/status.h"
#include "domain/identity.h"
#include "store/store.h"

namespace learnwire::app {

core::Status SeedDemo(store::Store& store, const domain::Deps& deps, const Config& config);

}  // namespace learnwire::app
