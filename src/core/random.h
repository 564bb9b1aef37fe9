// Cryptographically secure random bytes and tokens (OpenSSL RAND_bytes). Thread-safe.
#pragma once

#include <cstddef>
#include <string>

namespace learnwire::core {

std::string RandomBytes(std::size_t n);
// n characters of [0-9A-Za-z], uniformly distributed.
std::string RandomBase62(std::size_t n);

}  // namespace learnwire::core
