#include "delivery/flow_control.h"

#include <algorithm>

namespace learnwire::delivery {

namespace {

// 429 Too Many Requests, 503 Service Unavailable and timeouts say the receiver is overloaded.
bool SaysSlowDown(const AttemptResult& r) {
  if (r.status) {
    return *r.status == 429 || *r.status == 503;
  }
  return r.error == "timeout";
}

double BurstOf(int rate_per_s) { return std::max(1, rate_per_s / 10); }

}  // namespace

FlowControl::State& FlowControl::Of(const std::string& webhook_id) {
  auto [it, inserted] = states_.try_emplace(webhook_id);
  if (inserted) {
    it->second.limit = cap_;
  }
  return it->second;
}

double FlowControl::Refill(State& s, int rate_per_s, int64_t now_ms) {
  if (!s.rated) {
    s.rated = true;
    s.tokens = BurstOf(rate_per_s);
  } else if (now_ms > s.refilled_ms) {
    s.tokens = std::min(BurstOf(rate_per_s),
                        s.tokens + static_cast<double>(now_ms - s.refilled_ms) * rate_per_s / 1000);
  }
  s.refilled_ms = std::max(s.refilled_ms, now_ms);
  return s.tokens;
}

int FlowControl::Allowance(const std::string& webhook_id, int in_flight,
                           std::optional<int> rate_per_s, int64_t now_ms) {
  State& s = Of(webhook_id);
  int allowed = std::max(0, s.limit - in_flight);
  if (rate_per_s) {
    allowed = std::min(allowed, static_cast<int>(Refill(s, *rate_per_s, now_ms)));
  }
  return allowed;
}

void FlowControl::Started(const std::string& webhook_id, int n, std::optional<int> rate_per_s,
                          int64_t now_ms) {
  if (!rate_per_s || n <= 0) {
    return;
  }
  State& s = Of(webhook_id);
  Refill(s, *rate_per_s, now_ms);
  s.tokens -= n;  // may go below zero for starts the caller could not hold back (/test, /retry)
}

void FlowControl::Finished(const std::string& webhook_id, const AttemptResult& r) {
  State& s = Of(webhook_id);
  if (SaysSlowDown(r)) {
    s.limit = std::max(1, s.limit / 2);
  } else if (r.status && *r.status >= 200 && *r.status < 300) {
    s.limit = std::min(cap_, s.limit + 1);
  }
}

std::optional<int64_t> FlowControl::NextStartAt(const std::string& webhook_id,
                                                std::optional<int> rate_per_s,
                                                int64_t now_ms) const {
  auto it = states_.find(webhook_id);
  if (!rate_per_s || it == states_.end() || !it->second.rated) {
    return std::nullopt;
  }
  State s = it->second;
  const double tokens = Refill(s, *rate_per_s, now_ms);
  if (tokens >= 1) {
    return std::nullopt;
  }
  return s.refilled_ms + static_cast<int64_t>((1 - tokens) * 1000 / *rate_per_s) + 1;
}

int FlowControl::Limit(const std::string& webhook_id) const {
  auto it = states_.find(webhook_id);
  return it == states_.end() ? cap_ : it->second.limit;
}

void FlowControl::Forget(const std::string& webhook_id) { states_.erase(webhook_id); }

}  // namespace learnwire::delivery
