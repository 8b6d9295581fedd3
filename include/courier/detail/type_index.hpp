// A small dense integer per event type, assigned once on first use.
//
// The bus finds an event type's signal by this index in a table instead of
// hashing typeid on every publish: after the first call the cost is one
// guarded static load.
#pragma once

#include <boost/config.hpp>

#include <atomic>
#include <cstddef>

namespace courier {
inline namespace v1 {
namespace detail {

inline std::size_t next_type_index() noexcept {
  static std::atomic<std::size_t> next{0};
  return next.fetch_add(1, std::memory_order_relaxed);
}

// Thread-safe (function-local static initialization). Always inlined: every
// publish calls it, and out of line it was a call per publish.
template <class Event>
BOOST_FORCEINLINE std::size_t type_index() noexcept {
  static const std::size_t index = next_type_index();
  return index;
}

}  // namespace detail
}  // namespace v1
}  // namespace courier
