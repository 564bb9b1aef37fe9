// Clock: the injectable source of wall-clock time. SystemClock is thread-safe; tests use a
// manual clock so nothing sleeps to wait for time to pass.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>

namespace learnwire::core {

using TimePoint = std::chrono::time_point<std::chrono::system_clock, std::chrono::milliseconds>;

class Clock {
 public:
  virtual ~Clock() = default;
  virtual TimePoint Now() const = 0;
};

class SystemClock final : public Clock {
 public:
  TimePoint Now() const override {
    return std::chrono::time_point_cast<std::chrono::milliseconds>(
        std::chrono::system_clock::now());
  }
};

// A clock that moves only when told. Thread-safe.
class ManualClock final : public Clock {
 public:
  explicit ManualClock(int64_t unix_ms = 1'790'000'000'000) : ms_(unix_ms) {}
  TimePoint Now() const override { return TimePoint(std::chrono::milliseconds(ms_.load())); }
  void Advance(std::chrono::milliseconds d) { ms_ += d.count(); }
  void Set(int64_t unix_ms) { ms_ = unix_ms; }

 private:
  std::atomic<int64_t> ms_;
};

inline int64_t ToUnixMs(TimePoint t) { return t.time_since_epoch().count(); }
inline TimePoint FromUnixMs(int64_t ms) { return TimePoint(std::chrono::milliseconds(ms)); }

}  // namespace learnwire::core
