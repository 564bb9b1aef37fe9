// Route registration, one function per resource file.
#pragma once

#include "api/context.h"

namespace learnwire::api {

void RegisterSystem(http::Router& router, const Services& services);
void RegisterLearners(http::Router& router, const Services& services);
void RegisterEvents(http::Router& router, const Services& services);
void RegisterApiKeys(http::Router& router, const Services& services);

}  // namespace learnwire::api
