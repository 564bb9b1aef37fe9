// Which client sent a request. The peer is believed unless it is a trusted proxy (config
// trusted_proxies): then X-Forwarded-For is read right to left, skipping trusted hops, and the
// first address not trusted is the client.
#pragma once

#include <string>
#include <vector>

#include "core/net.h"
#include "http/message.h"

namespace learnwire::http {

std::string ClientAddress(const Request& req, const std::vector<core::Cidr>& trusted_proxies);

}  // namespace learnwire::http
