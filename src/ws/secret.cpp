// Secrets from OpenSSL's CSPRNG (see secret.hpp).
#include "secret.hpp"

#include "courier/detail/base64.hpp"
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
  return courier::detail::base64_encode(
      std::string_view(reinterpret_cast<const char*>(raw.data()), raw.size()),
      courier::detail::base64_form::url_unpadded);
}

bool equal_in_constant_time(std::string_view a, std::string_view b) noexcept {
  return a.size() == b.size() && CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

}  // namespace ws::detail
}  // namespace v1
}  // namespace courier
