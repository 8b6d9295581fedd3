// Bridges between a channel and a bus.
//
// feed(channel, bus): every message the channel delivers is published on the
// bus as an event of its type, and acked once every observer has returned;
// an observer's exception nacks it (it is delivered again, or
// dead-lettered), so a bus observer gets the channel's at-least-once
// delivery without knowing about receipts.
//
// route<E>(bus, channel): every E published or posted on the bus is sent
// into the channel, with send_options chosen per event (a FIFO channel needs
// at least a group). A send that fails (channel_full, missing_group) throws
// to the publisher, or to the bus's error handler on the async path: nothing
// is dropped silently.
#pragma once

#include "courier/channel.hpp"
#include "courier/subscription.hpp"

#include <concepts>
#include <functional>
#include <utility>

namespace courier {
inline namespace v1 {

// Publishes each delivered message on bus until the returned consumer stops.
// Any channel with consume() and value_type: courier::channel<T>,
// courier::sqs::channel<T>. Stop it before destroying the channel or the
// bus. Thread-safe.
template <class Channel, class Bus>
[[nodiscard]] consumer feed(Channel& source, Bus& target, consume_options options = {}) {
  using T = typename Channel::value_type;
  return source.consume([&target](const T& message) { target.publish(message); }, options);
}

// Sends each E published on bus into target (a channel of E), with
// options_for(event) (empty: default send_options). The subscription ends
// it. Thread-safe.
template <class E, class Bus, class Channel>
requires std::same_as<typename Channel::value_type, E>
[[nodiscard]] subscription route(Bus& source, Channel& target,
                                 std::function<send_options(const E&)> options_for = {}) {
  return source.template subscribe<E>([&target, options_for = std::move(options_for)](const E& event) {
    target.send(event, options_for ? options_for(event) : send_options{});
  });
}

}  // namespace v1
}  // namespace courier
