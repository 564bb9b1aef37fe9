// Recently loaded API key records, kept at most `ttl` (1 s): API.md lets other nodes take up to
// a second to refuse a revoked key, and the node that revokes evicts it at once. Only keys that
// exist are cached (an unknown id always goes to the database), and the secret is checked
// against the cached hash on every request. Thread-safe; bounded.
#pragma once

#include <chrono>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>

#include "core/clock.h"
#include "domain/identity.h"

namespace learnwire::api {

class KeyCache {
 public:
  explicit KeyCache(const core::Clock& clock,
                    std::chrono::milliseconds ttl = std::chrono::seconds(1),
                    std::size_t max_entries = 10'000);

  std::optional<domain::KeyRecord> Get(const std::string& key_id);
  // `read_at_ms`: when the record was read (the clock before the read began). The entry ages from
  // then, and a record read before an eviction of its id is not cached: a request that loaded a
  // key just before it was revoked cannot bring it back.
  void Put(const domain::KeyRecord& record, int64_t read_at_ms);
  void Evict(const std::string& key_id);
  // Records a last_used_at write, so the cached copy does not ask for another within the minute.
  void NoteUsed(const std::string& key_id, int64_t now_ms);

 private:
  struct Entry {
    domain::KeyRecord record;
    int64_t loaded_ms;
  };
  const core::Clock& clock_;
  const int64_t ttl_ms_;
  const std::size_t max_entries_;
  std::mutex mu_;
  std::unordered_map<std::string, Entry> entries_;
  std::unordered_map<std::string, int64_t> evicted_at_;  // kept one ttl, then forgotten
};

}  // namespace learnwire::api
