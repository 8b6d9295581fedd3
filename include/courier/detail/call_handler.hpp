// Calls a consumer's handler with the delivery, or with its message,
// whichever the handler takes: consume() accepts both kinds, on every
// channel (courier::channel, courier::sqs::channel) and in the testing
// kit's wrappers.
#pragma once

#include <concepts>
#include <utility>

namespace courier {
inline namespace v1 {
namespace detail {

template <class Handler, class Delivery>
decltype(auto) call_handler(Handler& handler, Delivery& item) {
  if constexpr (std::invocable<Handler&, Delivery&>) {
    return handler(item);
  } else {
    return handler(std::as_const(item).message());
  }
}

}  // namespace detail
}  // namespace v1
}  // namespace courier
