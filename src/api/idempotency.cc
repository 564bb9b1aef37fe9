#include "api/idempotency.h"

#include <openssl/crypto.h>

#include <boost/json.hpp>

#include "core/random.h"
#include "events/outbox.h"

namespace learnwire::api {
namespace json = boost::json;
using http::Problem;
using http::Response;

namespace {

constexpr int64_t kKeepMs = 24LL * 3600 * 1000;
// A claim whose process died is taken over after this long.
constexpr int64_t kLockMs = 60'000;

bool ValidKey(const std::string& k) {
  if (k.empty() || k.size() > 255) {
    return false;
  }
  for (unsigned char c : k) {
    if (c < 0x21 || c > 0x7e) {
      return false;
    }
  }
  return true;
}

// Headers worth replaying: the resource's location and its media type.
std::string HeadersJson(const Response& r) {
  json::object o;
  for (const char* name : {"content-type", "location"}) {
    if (const std::string* v = r.FindHeader(name)) {
      o[name] = *v;
    }
  }
  return json::serialize(o);
}

enum class ClaimOutcome { kClaimed, kReplay, kReused, kInProgress };

struct Claim {
  ClaimOutcome outcome = ClaimOutcome::kClaimed;
  Response replay;
};

const char* kWhere =
    "organization_id = $1 AND credential_id = $2 AND method = $3 AND path = $4 AND idem_key = $5";

store::Params KeyParams(const Idempotency& i) {
  return {i.organization_id, i.credential_id, i.method, i.path, i.key};
}

core::Result<Claim> TakeClaim(store::Tx& tx, const Idempotency& idem, int64_t now) {
  LW_ASSIGN_OR_RETURN(store::Rows rows,
                      tx.Query(std::string("SELECT body_hash, status, response_headers, "
                                           "response_body, locked_until, expires_at FROM "
                                           "idempotency_keys WHERE ") +
                                   kWhere,
                               KeyParams(idem)));
  Claim claim;
  if (!rows.empty() && rows[0].Int("expires_at") > now) {
    const auto row = rows[0];
    std::string hash = row.Str("body_hash");
    if (hash.size() != idem.body_hash.size() ||
        CRYPTO_memcmp(hash.data(), idem.body_hash.data(), hash.size()) != 0) {
      claim.outcome = ClaimOutcome::kReused;
      return claim;
    }
    if (!row.IsNull("status")) {
      claim.outcome = ClaimOutcome::kReplay;
      claim.replay.status = static_cast<int>(row.Int("status"));
      claim.replay.body = row.Str("response_body");
      boost::system::error_code ec;
      json::value headers = json::parse(row.Str("response_headers"), ec);
      if (!ec && headers.is_object()) {
        for (const auto& kv : headers.get_object()) {
          if (kv.value().is_string()) {
            claim.replay.SetHeader(std::string(kv.key()), std::string(kv.value().get_string()));
          }
        }
      }
      claim.replay.SetHeader("idempotent-replayed", "true");
      return claim;
    }
    if (row.Int("locked_until") > now) {
      claim.outcome = ClaimOutcome::kInProgress;
      return claim;
    }
  }
  // Records past their 24 hours are purged as new ones are claimed (the expiry index keeps this
  // to the rows that expired since the last claim).
  LW_RETURN_IF_ERROR(
      tx.Exec("DELETE FROM idempotency_keys WHERE expires_at <= $1", {now}).status());
  // Absent, expired, or abandoned by a dead process: (re)claim it.
  LW_RETURN_IF_ERROR(
      tx.Exec(std::string("DELETE FROM idempotency_keys WHERE ") + kWhere, KeyParams(idem))
          .status());
  store::Params p = KeyParams(idem);
  p.push_back(idem.body_hash);
  p.push_back(now + kLockMs);
  p.push_back(now + kKeepMs);
  LW_RETURN_IF_ERROR(tx.Exec("INSERT INTO idempotency_keys (organization_id, credential_id, "
                             "method, path, idem_key, body_hash, locked_until, expires_at) "
                             "VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
                             p)
                         .status());
  return claim;
}

// A 5xx or a 429 says "not now": the key is released so the same request can run again.
bool IsTransient(const Response& r) { return r.status >= 500 || r.status == 429; }

}  // namespace

core::Status SaveIdempotentResponse(store::Tx& tx, Idempotency& idem, const Response& r,
                                    int64_t now_ms) {
  if (IsTransient(r)) {
    return core::Status::Ok();
  }
  store::Params p = {static_cast<int64_t>(r.status), HeadersJson(r),
                     idem.replay_body.value_or(r.body), now_ms + kKeepMs};
  for (auto& v : KeyParams(idem)) {
    p.push_back(v);
  }
  LW_RETURN_IF_ERROR(tx.Exec("UPDATE idempotency_keys SET status = $1, response_headers = $2, "
                             "response_body = $3, expires_at = $4 WHERE organization_id = $5 AND "
                             "credential_id = $6 AND method = $7 AND path = $8 AND idem_key = $9",
                             p)
                         .status());
  idem.stored = true;
  return core::Status::Ok();
}

core::Status ScrubIdempotentResponses(store::Tx& tx, const std::string& organization_id,
                                      const std::string& learner_id) {
  LW_ASSIGN_OR_RETURN(store::Rows rows,
                      tx.Query("SELECT credential_id, method, path, idem_key, response_body FROM "
                               "idempotency_keys WHERE organization_id = $1 AND response_body "
                               "LIKE $2",
                               {organization_id, "%" + learner_id + "%"}));
  for (std::size_t i = 0; i < rows.size(); ++i) {
    boost::system::error_code ec;
    json::value body = json::parse(rows[i].Str("response_body"), ec);
    if (ec || !events::ScrubLearnerJson(body, learner_id)) {
      continue;
    }
    LW_RETURN_IF_ERROR(
        tx.Exec("UPDATE idempotency_keys SET response_body = $1 WHERE "
                "organization_id = $2 AND credential_id = $3 AND method = $4 AND "
                "path = $5 AND idem_key = $6",
                {json::serialize(body), organization_id, rows[i].Str("credential_id"),
                 rows[i].Str("method"), rows[i].Str("path"), rows[i].Str("idem_key")})
            .status());
  }
  return core::Status::Ok();
}

Response WithIdempotency(RequestContext& ctx, const Handler& handler) {
  const std::string& key = ctx.req.Header("idempotency-key");
  if (!ValidKey(key)) {
    return Problem(400, "malformed", "Idempotency-Key must be 1 to 255 visible ASCII characters");
  }
  Idempotency idem;
  idem.organization_id = ctx.org();
  idem.credential_id = ctx.key->id;
  idem.method = ctx.req.method;
  idem.path = ctx.req.path;
  idem.key = key;
  idem.body_hash = core::Sha256Hex(ctx.req.body);
  Claim claim;
  core::Status st = ctx.services.store->Write([&](store::Tx& tx) -> core::Status {
    LW_ASSIGN_OR_RETURN(claim, TakeClaim(tx, idem, ctx.Now()));
    return core::Status::Ok();
  });
  if (!st.ok()) {
    return ctx.Fail(st);
  }
  switch (claim.outcome) {
    case ClaimOutcome::kReplay:
      return claim.replay;
    case ClaimOutcome::kReused:
      return Problem(409, "idempotency-key-reused",
                     "this Idempotency-Key was used with a different body");
    case ClaimOutcome::kInProgress:
      return Problem(409, "idempotency-in-progress",
                     "a request with this Idempotency-Key is still in progress");
    case ClaimOutcome::kClaimed:
      break;
  }
  ctx.idempotency = &idem;
  Response r = handler(ctx);
  ctx.idempotency = nullptr;
  if (idem.stored) {
    return r;
  }
  // Responses made without a committed change (validation errors, 5xx) are settled here:
  // 4xx stored; 5xx and 429 release the claim so a retry can run.
  core::Status settled = ctx.services.store->Write([&](store::Tx& tx) -> core::Status {
    if (IsTransient(r)) {
      return tx.Exec(std::string("DELETE FROM idempotency_keys WHERE ") + kWhere, KeyParams(idem))
          .status();
    }
    return SaveIdempotentResponse(tx, idem, r, ctx.Now());
  });
  if (!settled.ok()) {
    return ctx.Fail(settled);
  }
  return r;
}

}  // namespace learnwire::api
