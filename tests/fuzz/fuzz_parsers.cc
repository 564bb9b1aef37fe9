// libFuzzer target for the small parsers that read untrusted text: request targets, times,
// emails, CIDR blocks, cursors, client addresses. Crashes and sanitizer reports are findings;
// round-trip properties are checked where they exist.
#include <cstdint>
#include <cstdlib>
#include <string>

#include "api/list.h"
#include "core/net.h"
#include "core/time_format.h"
#include "domain/identity.h"
#include "http/client_address.h"
#include "http/request_target.h"

using namespace learnwire;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string s(reinterpret_cast<const char*>(data), size);
  (void)http::DecodeTarget(s);
  (void)http::IsValidRequestId(s);
  if (auto t = core::ParseTime(s)) {
    // Whatever parses formats and parses back to the same instant.
    if (*t >= -62135596800000LL && *t <= 253402300799999LL &&
        core::ParseTime(core::FormatTime(*t)) != *t) {
      std::abort();
    }
  }
  (void)domain::CheckEmail(s);
  (void)core::ParseCidr(s);
  (void)api::DecodeCursor("k", "/api/v1/learners|org", s, domain::ListOrder::kByUpdated);
  http::Request req;
  req.remote_addr = "10.0.0.1";
  req.headers.emplace("x-forwarded-for", s);
  (void)http::ClientAddress(req, {*core::ParseCidr("10.0.0.0/8")});
  return 0;
}
