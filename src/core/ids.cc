#include "core/ids.h"

#include <array>
#include <cstring>
#include <mutex>

#include "core/random.h"

namespace learnwire::core {
namespace {

constexpr char kCrockford[] = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";

// The last id issued by this process: a new id in the same millisecond (or a clock that went
// back) increments the random part, so ids are strictly increasing.
struct LastId {
  std::mutex mu;
  int64_t ms = -1;
  std::array<unsigned char, 10> rand{};
};

LastId& Last() {
  static LastId last;
  return last;
}

// Adds one to a big-endian byte string; returns false on overflow.
bool Increment(std::array<unsigned char, 10>& r) {
  for (int i = 9; i >= 0; --i) {
    if (++r[i] != 0) {
      return true;
    }
  }
  return false;
}

}  // namespace

IdGenerator::IdGenerator(const Clock& clock) : clock_(clock) {}

std::string IdGenerator::NewBody() {
  std::array<unsigned char, 16> bytes{};
  {
    LastId& last = Last();
    std::lock_guard lock(last.mu);
    int64_t now = ToUnixMs(clock_.Now());
    if (now > last.ms) {
      last.ms = now;
      std::string r = RandomBytes(10);
      std::copy(r.begin(), r.end(), last.rand.begin());
      last.rand[0] &= 0x7f;  // leave room to increment within the millisecond
    } else if (!Increment(last.rand)) {
      ++last.ms;
      last.rand.fill(0);
    }
    for (int i = 0; i < 6; ++i) {
      bytes[i] = static_cast<unsigned char>(last.ms >> (8 * (5 - i)));
    }
    std::copy(last.rand.begin(), last.rand.end(), bytes.begin() + 6);
  }
  // 128 bits as 26 base32 characters: the first character carries the top 3 bits.
  std::string out(kIdBodyLength, '0');
  unsigned __int128 v = 0;
  for (unsigned char b : bytes) {
    v = (v << 8) | b;
  }
  for (int i = static_cast<int>(kIdBodyLength) - 1; i >= 0; --i) {
    out[i] = kCrockford[static_cast<int>(v & 31)];
    v >>= 5;
  }
  return out;
}

std::string IdGenerator::New(std::string_view prefix) {
  std::string out(prefix);
  out.push_back('_');
  out += NewBody();
  return out;
}

bool IsCrockford(std::string_view s) {
  for (char c : s) {
    bool digit = c >= '0' && c <= '9';
    bool upper = c >= 'A' && c <= 'Z' && c != 'I' && c != 'L' && c != 'O' && c != 'U';
    if (!digit && !upper) {
      return false;
    }
  }
  return true;
}

bool IsValidId(std::string_view id, std::string_view prefix) {
  if (id.size() != prefix.size() + 1 + kIdBodyLength || id.substr(0, prefix.size()) != prefix ||
      id[prefix.size()] != '_') {
    return false;
  }
  std::string_view body = id.substr(prefix.size() + 1);
  return IsCrockford(body) && body[0] <= '7';
}

int64_t IdTimeMs(std::string_view id) {
  std::size_t underscore = id.find('_');
  std::string_view body = underscore == std::string_view::npos ? id : id.substr(underscore + 1);
  int64_t ms = 0;
  for (std::size_t i = 0; i < 10 && i < body.size(); ++i) {
    const char* at = std::strchr(kCrockford, body[i]);
    ms = (ms << 5) | (at ? at - kCrockford : 0);
  }
  return ms;
}

std::string Base32Crockford(const unsigned char* data, std::size_t len) {
  std::string out;
  uint32_t buffer = 0;
  int bits = 0;
  for (std::size_t i = 0; i < len; ++i) {
    buffer = (buffer << 8) | data[i];
    bits += 8;
    while (bits >= 5) {
      out.push_back(kCrockford[(buffer >> (bits - 5)) & 31]);
      bits -= 5;
    }
  }
  if (bits > 0) {
    out.push_back(kCrockford[(buffer << (5 - bits)) & 31]);
  }
  return out;
}

}  // namespace learnwire::core
