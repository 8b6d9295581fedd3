// Secrets from OpenSSL's CSPRNG (see secret.hpp).
#include "secret.hpp"

#include "courier/error.hpp"

#include <openssl/crypto.h>
#include <openssl/rand.h>

#include <fmt/format.h>

#include <limits>
#include <vector>

namespace courier {
inline namespace v1 {
namespace ws::detail {

std::string random_text(std::size_t bytes) {
  std::vector<unsigned char> raw(bytes);
  if (bytes > static_cast<std::size_t>(std::numeric_limits<int>::max()) ||
      RAND_bytes(raw.data(), static_cast<int>(bytes)) != 1) {
    throw error(errc::no_randomness, fmt::format("ws: {} random bytes for a secret", bytes));
  }
  static constexpr char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  std::string out;
  out.reserve((bytes * 4 + 2) / 3);
  // Each 3 bytes are 4 characters of 6 bits; a last group of 1 or 2 bytes
  // gives 2 or 3 characters (no padding).
  for (std::size_t at = 0; at < bytes; at += 3) {
    const std::size_t left = bytes - at;
    std::uint32_t group = std::uint32_t{raw[at]} << 16;
    if (left > 1) group |= std::uint32_t{raw[at + 1]} << 8;
    if (left > 2) group |= raw[at + 2];
    const std::size_t characters = left >= 3 ? 4 : left + 1;
    for (std::size_t i = 0; i < characters; ++i) out += alphabet[(group >> (18 - 6 * i)) & 0x3F];
  }
  return out;
}

bool equal_in_constant_time(std::string_view a, std::string_view b) noexcept {
  return a.size() == b.size() && CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

}  // namespace ws::detail
}  // namespace v1
}  // namespace courier
