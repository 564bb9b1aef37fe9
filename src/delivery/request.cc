#include "delivery/request.h"

#include <algorithm>

#include "core/text.h"
#include "delivery/signer.h"

namespace learnwire::delivery {

AttemptRequest BuildAttemptRequest(const Webhook& webhook,
                                   const std::vector<SigningKey>& signing_keys,
                                   const AttemptInput& in, const std::string& user_agent) {
  AttemptRequest r;
  r.url = webhook.url;
  r.body = in.body;
  HeaderList& h = r.headers;
  h.emplace_back("content-type", "application/json");
  h.emplace_back("user-agent", user_agent);
  h.emplace_back("webhook-id", in.event_id);
  h.emplace_back("webhook-timestamp", std::to_string(in.timestamp_s));
  h.emplace_back("webhook-signature",
                 SignatureHeader(signing_keys, in.event_id, in.timestamp_s, in.body));
  // The raw-body scheme is HMAC's alone, with the newest secret.
  if (webhook.legacy_signature && webhook.signature_scheme == "hmac-sha256" &&
      !signing_keys.empty() && signing_keys.front().kind == SigningKey::Kind::kHmac) {
    h.emplace_back("x-learnwire-signature", LegacySignature(signing_keys.front().key, in.body));
  }
  h.emplace_back("x-learnwire-event", in.event_type);
  h.emplace_back("x-learnwire-attempt", std::to_string(in.attempt_number));
  h.emplace_back("x-learnwire-delivery", in.delivery_id);
  if (webhook.basic_auth_username) {
    h.emplace_back("authorization", "Basic " + Base64(*webhook.basic_auth_username + ":" +
                                                      webhook.basic_auth_password.value_or("")));
  }
  for (const auto& [name, value] : webhook.headers) {
    h.emplace_back(name, value);
  }
  return r;
}

HeaderList RedactHeaders(const Webhook& webhook, const HeaderList& headers) {
  HeaderList out;
  for (const auto& [name, value] : headers) {
    std::string lower = core::LowerAscii(name);
    bool custom = std::any_of(webhook.headers.begin(), webhook.headers.end(),
                              [&](const auto& c) { return core::LowerAscii(c.first) == lower; });
    out.emplace_back(name, (custom || lower == "authorization") ? kRedacted : value);
  }
  return out;
}

}  // namespace learnwire::delivery
