// Cryptographic helpers over OpenSSL: secure random bytes and tokens (RAND_bytes), SHA-256.
// Thread-safe.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace learnwire::core {

std::string RandomBytes(std::size_t n);
// n characters of [0-9A-Za-z], uniformly distributed.
std::string RandomBase62(std::size_t n);
// Lower-case hex of the SHA-256 of `data`.
std::string Sha256Hex(std::string_view data);

}  // namespace learnwire::core
