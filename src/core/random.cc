#include "core/random.h"

#include <openssl/rand.h>
#include <openssl/sha.h>

#include <cstdlib>

namespace learnwire::core {

std::string RandomBytes(std::size_t n) {
  std::string out(n, '\0');
  if (n > 0 && RAND_bytes(reinterpret_cast<unsigned char*>(out.data()), static_cast<int>(n)) != 1) {
    // Without randomness no secret can be made safely; this never happens on a working system.
    std::abort();
  }
  return out;
}

std::string RandomBase62(std::size_t n) {
  static constexpr char kAlphabet[] =
      "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
  std::string out;
  out.reserve(n);
  while (out.size() < n) {
    std::string bytes = RandomBytes(n * 2);
    for (unsigned char b : bytes) {
      // Rejection sampling keeps the distribution uniform: 248 = 4 * 62.
      if (b < 248 && out.size() < n) {
        out.push_back(kAlphabet[b % 62]);
      }
    }
  }
  return out;
}

std::string Sha256Hex(std::string_view data) {
  unsigned char digest[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(data.data()), data.size(), digest);
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(2 * sizeof digest);
  for (unsigned char c : digest) {
    out.push_back(kHex[c >> 4]);
    out.push_back(kHex[c & 15]);
  }
  return out;
}

}  // namespace learnwire::core
