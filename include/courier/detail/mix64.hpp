// Spreads a 64-bit value's bits over the whole word (the splitmix64
// finalizer), so neighbouring inputs (sequential ids, roll numbers) give
// unrelated outputs. For hash tables and reproducible random decisions.
#pragma once

#include <cstdint>

namespace courier {
inline namespace v1 {
namespace detail {

constexpr std::uint64_t mix64(std::uint64_t x) noexcept {
  x ^= x >> 30;
  x *= 0xbf58476d1ce4e5b9ULL;
  x ^= x >> 27;
  x *= 0x94d049bb133111ebULL;
  x ^= x >> 31;
  return x;
}

}  // namespace detail
}  // namespace v1
}  // namespace courier
