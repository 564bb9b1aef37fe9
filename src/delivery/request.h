// The POST of one attempt (WEBHOOKS.md §2–§3): body, signature headers, Learnwire's headers,
// basic auth and the subscription's custom headers, plus the redacted copy the audit keeps.
// Pure functions; thread-safe.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "delivery/signer.h"
#include "delivery/webhooks.h"

namespace learnwire::delivery {

using HeaderList = std::vector<std::pair<std::string, std::string>>;

struct AttemptRequest {
  std::string url;
  HeaderList headers;  // in sending order
  std::string body;    // the event envelope, exactly as stored
};

struct AttemptInput {
  std::string delivery_id;
  std::string event_id;
  std::string event_type;
  std::string body;
  int attempt_number = 1;
  int64_t timestamp_s = 0;  // webhook-timestamp: Unix seconds of this attempt
};

// Builds the request. `signing_keys` are the decoded signing keys, newest first.
AttemptRequest BuildAttemptRequest(const Webhook& webhook,
                                   const std::vector<SigningKey>& signing_keys,
                                   const AttemptInput& input, const std::string& user_agent);

// The headers as the audit shows them: `authorization` and custom header values redacted.
HeaderList RedactHeaders(const Webhook& webhook, const HeaderList& headers);

inline constexpr const char* kRedacted = kWriteOnlyValue;

}  // namespace learnwire::delivery
