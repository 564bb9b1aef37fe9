// The learnwire command line (PRODUCT.md "The CLI"), as a function so that a test build can run
// it with its own clock. Exit codes: 0 success, 1 failure, 2 bad usage or configuration.
#pragma once

#include "app/app.h"

namespace learnwire::cli {

int Run(int argc, char** argv, const app::Hooks& hooks);

}  // namespace learnwire::cli
