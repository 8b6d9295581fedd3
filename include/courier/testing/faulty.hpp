// Wrappers that make a consumer or a transport fail on purpose.
//
// Each takes the real handler (or any callable) and a fault_dice, and fails
// the calls the dice picks, in the ways event-driven code fails in
// production: a handler that throws before it did anything, one that throws
// after its effect happened, an ack that never reaches the channel (a crash
// after applying), a stall past the visibility timeout (a GC pause, swap),
// and a transport call that throws. The wrapped handlers go straight into
// channel::consume(); the fault run (channel_faults.hpp) uses the same
// dice, so there is one implementation of "inject a fault".
//
//   auto consumer = channel.consume(testing::losing_acks(apply, testing::fault_dice::rate(0.01, seed)));
#pragma once

#include "courier/clock.hpp"
#include "courier/delivery.hpp"
#include "courier/detail/call_handler.hpp"
#include "courier/testing/fault_dice.hpp"

#include <concepts>
#include <memory>
#include <stdexcept>
#include <string>
#include <utility>

namespace courier {
inline namespace v1 {
namespace testing {

// What the wrappers throw: a test can tell an injected failure from a real one.
class injected_fault : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Throws injected_fault instead of calling handler when the dice fires: the
// consumer failed before it applied anything; consume() nacks.
template <class Handler>
auto failing(Handler handler, fault_dice dice) {
  return [handler = std::move(handler), dice = std::move(dice)](auto& item) mutable {
    if (dice.roll()) throw injected_fault("injected: the handler failed before applying");
    courier::detail::call_handler(handler, item);
  };
}

// Calls handler, then throws injected_fault when the dice fires: the effect
// happened but the delivery is nacked and comes again, so the handler must
// be idempotent.
template <class Handler>
auto failing_after(Handler handler, fault_dice dice) {
  return [handler = std::move(handler), dice = std::move(dice)](auto& item) mutable {
    courier::detail::call_handler(handler, item);
    if (dice.roll()) throw injected_fault("injected: the handler failed after applying");
  };
}

// Calls handler, then, when the dice fires, loses the ack: the delivery is
// left to expire (delivery::let_expire) and the message comes again after
// its visibility timeout.
template <class Handler>
auto losing_acks(Handler handler, fault_dice dice) {
  return [handler = std::move(handler), dice = std::move(dice)](auto& item) mutable {
    courier::detail::call_handler(handler, item);
    if (dice.roll() && !item.settled()) item.let_expire();
  };
}

// Calls handler, then, when the dice fires, moves clock forward by stall
// before the ack: with stall past the channel's visibility timeout the
// delivery has expired when it is acked, and another consumer may have it.
template <class Handler>
auto stalling(Handler handler, fault_dice dice, std::shared_ptr<manual_clock> clock,
              courier::clock::duration stall) {
  return [handler = std::move(handler), dice = std::move(dice), clock = std::move(clock),
          stall](auto& item) mutable {
    courier::detail::call_handler(handler, item);
    if (dice.roll()) clock->advance(stall);
  };
}

// Any callable (a transport's send, a store's write): throws injected_fault
// when the dice fires, and otherwise forwards the call and its result.
template <class Call>
auto fail_when(fault_dice dice, Call call, std::string what = "injected: the call failed") {
  return [call = std::move(call), dice = std::move(dice),
          what = std::move(what)](auto&&... args) mutable -> decltype(auto) {
    if (dice.roll()) throw injected_fault(what);
    return call(std::forward<decltype(args)>(args)...);
  };
}

}  // namespace testing
}  // namespace v1
}  // namespace courier
