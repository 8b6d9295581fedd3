// aws::random_id (see courier/aws/random_id.hpp): getrandom(2), which blocks
// only until the kernel's pool is first seeded and never returns weak bytes.
#include "courier/aws/random_id.hpp"

#include "courier/error.hpp"

#include <sys/random.h>

#include <cerrno>
#include <cstddef>

namespace courier {
inline namespace v1 {
namespace aws {

std::string random_id() {
  unsigned char bytes[16];
  std::size_t filled = 0;
  while (filled < sizeof bytes) {
    const ssize_t got = getrandom(bytes + filled, sizeof bytes - filled, 0);
    if (got < 0) {
      if (errno == EINTR) continue;
      throw error(errc::no_randomness, "aws::random_id: getrandom() failed; no id drawn");
    }
    filled += static_cast<std::size_t>(got);
  }
  static constexpr char hex[] = "0123456789abcdef";
  std::string out;
  out.reserve(2 * sizeof bytes);
  for (const unsigned char byte : bytes) {
    out += hex[byte >> 4];
    out += hex[byte & 0xF];
  }
  return out;
}

}  // namespace aws
}  // namespace v1
}  // namespace courier
