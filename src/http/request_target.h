// The parts of reading a request that need no socket: decoding the request target and choosing
// the request id. Pure functions, thread-safe.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace learnwire::http {

struct DecodedTarget {
  std::string path;                                        // percent-decoded
  std::vector<std::pair<std::string, std::string>> query;  // decoded, '+' as space, in order
};

// Decodes an origin-form target ("/a/b?x=1"). nullopt when it is not origin-form, has a bad
// percent escape, or decodes to a path or query holding NUL.
std::optional<DecodedTarget> DecodeTarget(std::string_view target);

// True for a client-chosen x-request-id we echo: [A-Za-z0-9._-]{1,64}.
bool IsValidRequestId(std::string_view id);

// 26 Crockford base32 characters from 128 random bits.
std::string NewRequestId();

}  // namespace learnwire::http
