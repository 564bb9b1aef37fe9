// For the URL guard's tests: a GuardConfig allowing these CIDR blocks.
#pragma once

#include <initializer_list>

#include "core/net.h"
#include "delivery/url_guard.h"

namespace learnwire::delivery {

inline GuardConfig Allowing(std::initializer_list<const char*> blocks, bool allow_http = false) {
  GuardConfig config;
  for (const char* b : blocks) {
    config.allowed_private_networks.push_back(*core::ParseCidr(b));
  }
  config.allow_http = allow_http;
  return config;
}

}  // namespace learnwire::delivery
