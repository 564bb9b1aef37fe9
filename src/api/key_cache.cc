#include "api/key_cache.h"

namespace learnwire::api {

KeyCache::KeyCache(const core::Clock& clock, std::chrono::milliseconds ttl, std::size_t max_entries)
    : clock_(clock), ttl_ms_(ttl.count()), max_entries_(max_entries) {}

std::optional<domain::KeyRecord> KeyCache::Get(const std::string& key_id) {
  int64_t now = core::ToUnixMs(clock_.Now());
  std::lock_guard lock(mu_);
  auto it = entries_.find(key_id);
  if (it == entries_.end()) {
    return std::nullopt;
  }
  // A clock that stepped back also invalidates: the entry's age is unknown.
  if (now - it->second.loaded_ms >= ttl_ms_ || now < it->second.loaded_ms) {
    entries_.erase(it);
    return std::nullopt;
  }
  return it->second.record;
}

void KeyCache::Put(const domain::KeyRecord& record, int64_t read_at_ms) {
  std::lock_guard lock(mu_);
  auto evicted = evicted_at_.find(record.key.id);
  if (evicted != evicted_at_.end() && evicted->second >= read_at_ms) {
    return;  // revoked while this record was being read
  }
  if (entries_.size() >= max_entries_) {
    entries_.clear();  // rare: more live keys in one second than the bound; start over
  }
  entries_[record.key.id] = Entry{record, read_at_ms};
}

void KeyCache::Evict(const std::string& key_id) {
  int64_t now = core::ToUnixMs(clock_.Now());
  std::lock_guard lock(mu_);
  entries_.erase(key_id);
  // A read that began more than one ttl ago could not be cached anyway: forget older evictions.
  for (auto it = evicted_at_.begin(); it != evicted_at_.end();) {
    it = now - it->second > ttl_ms_ ? evicted_at_.erase(it) : std::next(it);
  }
  evicted_at_[key_id] = now;
}

void KeyCache::NoteUsed(const std::string& key_id, int64_t now_ms) {
  std::lock_guard lock(mu_);
  auto it = entries_.find(key_id);
  if (it != entries_.end()) {
    it->second.record.key.last_used_at = now_ms;
  }
}

}  // namespace learnwire::api
