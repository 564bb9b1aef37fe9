// Resource ids: a type prefix plus 26 characters of Crockford base32 (48-bit millisecond time and
// 80 random bits, ULID layout), time-ordered and strictly increasing within one process.
// Thread-safe.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "core/clock.h"

namespace learnwire::core {

inline constexpr std::size_t kIdBodyLength = 26;

class IdGenerator {
 public:
  explicit IdGenerator(const Clock& clock);
  // e.g. New("lrn") -> "lrn_01JD…"
  std::string New(std::string_view prefix);
  // 26 Crockford characters only.
  std::string NewBody();

 private:
  const Clock& clock_;
};

// True when `id` is `<prefix>_` followed by 26 Crockford base32 characters (upper case).
bool IsValidId(std::string_view id, std::string_view prefix);
bool IsCrockford(std::string_view s);

// The millisecond time encoded in a valid id's first ten characters.
int64_t IdTimeMs(std::string_view id);

// Encodes bytes as Crockford base32 without padding.
std::string Base32Crockford(const unsigned char* data, std::size_t len);

}  // namespace learnwire::core
