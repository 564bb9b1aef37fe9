// Idempotency-Key (API.md "Idempotency"): keys scoped by organization, credential, method and
// path, kept 24 h. The response is stored in the same transaction as the change it reports.
#pragma once

#include <optional>
#include <string>

#include "api/context.h"

namespace learnwire::api {

struct Idempotency {
  std::string organization_id, credential_id, method, path, key, body_hash;
  bool stored = false;  // the response was saved inside the change's transaction
  // What a replay returns instead of the live body, when that holds a secret shown only once.
  std::optional<std::string> replay_body;
};

// Serves a POST that carries Idempotency-Key: replays, refuses (409) or runs `handler` once.
http::Response WithIdempotency(RequestContext& ctx, const Handler& handler);

// Erasure reaches stored responses too: personal fields of the learner become "erased".
core::Status ScrubIdempotentResponses(store::Tx& tx, const std::string& organization_id,
                                      const std::string& learner_id);

// Saves `response` for the key inside `tx` (2xx and 4xx only).
core::Status SaveIdempotentResponse(store::Tx& tx, Idempotency& idem, const http::Response& r,
                                    int64_t now_ms);

}  // namespace learnwire::api
