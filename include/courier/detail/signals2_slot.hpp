#pragma once
// What the Signals2 bus stores in a signal for each observer, in place of a
// boost::function. Building a slot, Signals2 and Boost.Function copy the
// function they are given about ten times (Boost.Function "moves" a functor
// in its small buffer by copying it) and call its manager through a pointer
// for each copy and each destruction; a handler too large for the buffer is
// allocated again on every copy. A slot_call is a counted pointer to the
// subscription's state, which holds the handler once: copying it is one
// increment, and there are three copies in a subscribe.
#include "courier/detail/run_delivery.hpp"
#include "courier/subscription.hpp"

#include <memory>
#include <optional>
#include <utility>

namespace courier {
inline namespace v1 {
namespace detail {

// A Signals2 subscription's state for observers of Event: how to call the
// handler (set once, before the slot is connected).
template <class Event>
struct signals2_observer : signals2_subscription_state {
  using signals2_subscription_state::signals2_subscription_state;
  using invoker = void (*)(signals2_observer& self, const Event& event, run_delivery<Event>* run);
  invoker invoke = nullptr;
};

// The same with its handler, held until Signals2 lets go of the slot.
template <class Event, class Handler>
struct signals2_observer_of final : signals2_observer<Event> {
  template <class H>
  signals2_observer_of(H&& made, std::shared_ptr<std::atomic<std::size_t>> count, bool thread_safe)
      : signals2_observer<Event>(std::move(count), thread_safe),
        handler(std::in_place, std::forward<H>(made)) {}
  void drop_handler() noexcept override { handler.reset(); }
  std::optional<Handler> handler;
};

// The SlotFunction of the bus's signals (boost::signals2::keywords::slot_function_type).
template <class Event>
class slot_call {
 public:
  using result_type = void;
  using event_type = Event;

  slot_call() noexcept = default;
  template <class Observer>  // signals2_observer<Event> or derived
  explicit slot_call(const std::shared_ptr<Observer>& observer) : anchor_(observer) {}

  void operator()(const Event& event, run_delivery<Event>* run) const {
    auto& observer = static_cast<signals2_observer<Event>&>(anchor_.state());
    observer.invoke(observer, event, run);
  }

 private:
  slot_anchor anchor_;
};

}  // namespace detail
}  // namespace v1
}  // namespace courier
