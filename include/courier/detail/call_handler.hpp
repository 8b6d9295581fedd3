// What every consume() does with one delivery: call the handler with the
// delivery or with its message, whichever it takes (on courier::channel,
// courier::sqs::channel and in the testing kit's wrappers), and nack what
// the handler threw on.
#pragma once

#include <fmt/format.h>

#include <concepts>
#include <cstdio>
#include <exception>
#include <string_view>
#include <utility>

namespace courier {
inline namespace v1 {
namespace detail {

// A consume() handler: takes the delivery, or its message.
template <class Handler, class Delivery>
concept delivery_handler = std::invocable<Handler&, Delivery&> ||
    std::invocable<Handler&, decltype(std::declval<const Delivery&>().message())>;

template <class Handler, class Delivery>
decltype(auto) call_handler(Handler& handler, Delivery& item) {
  if constexpr (std::invocable<Handler&, Delivery&>) {
    return handler(item);
  } else {
    return handler(std::as_const(item).message());
  }
}

// Runs run(), the handling of one delivery. If it throws, reports the
// exception to on_error(item.id(), exception) and nacks item unless the
// handler settled it (a failing nack is reported too). Returns true when
// item is still unsettled after a normal return: the caller acks it, alone
// or in a batch.
template <class Run, class Delivery, class OnError>
bool run_or_nack(Run&& run, Delivery& item, const OnError& on_error) {
  try {
    run();
  } catch (...) {
    on_error(item.id(), std::current_exception());
    if (!item.settled()) {
      try {
        item.nack();
      } catch (...) {
        on_error(item.id(), std::current_exception());
      }
    }
    return false;
  }
  return !item.settled();
}

// Handles one delivery of a consume() loop: runs handler on it (nacking
// what it threw on) and acks it if the handler returned without settling
// it; a failing ack goes to on_error too.
template <class Handler, class Delivery, class OnError>
void handle_then_ack(Handler& handler, Delivery& item, const OnError& on_error) {
  if (!run_or_nack([&] { call_handler(handler, item); }, item, on_error)) return;
  try {
    item.ack();
  } catch (...) {
    on_error(item.id(), std::current_exception());
  }
}

// consume()'s default on_error: one line on stderr naming the consumer and
// the message.
template <class Id>
void print_consumer_error(std::string_view consumer, const Id& id, std::exception_ptr failure) {
  try {
    std::rethrow_exception(failure);
  } catch (const std::exception& e) {
    fmt::print(stderr, "courier: {} of {}: {}\n", consumer, id, e.what());
  } catch (...) {
    fmt::print(stderr, "courier: {} of {}: an exception not derived from std::exception\n", consumer, id);
  }
}

}  // namespace detail
}  // namespace v1
}  // namespace courier
