// courier::event_ref: a typed event seen through a type-erased window.
//
// Catch-all observers (bus::subscribe_all) - bridges, loggers, adapters - see
// every event without knowing its type at compile time. An event_ref names
// the type and lets the observer get the event back when it knows the type.
// It refers to the publisher's object: valid only during the call.
#pragma once

#include "courier/detail/type_index.hpp"
#include "courier/event_name.hpp"

#include <fmt/format.h>

#include <cstddef>
#include <string_view>

namespace courier {
inline namespace v1 {

class event_ref {
 public:
  template <class Event>
  static event_ref of(const Event& event) noexcept {
    return event_ref(event_name<Event>(), detail::type_index<Event>(), &event);
  }

  // The event type's name (see event_name.hpp). Thread-safe.
  std::string_view type_name() const noexcept { return type_name_; }

  // True when the referenced event is an Event. Thread-safe.
  template <class Event>
  bool is() const noexcept {
    return type_index_ == detail::type_index<Event>();
  }

  // The event as an Event, or nullptr when it is another type. Thread-safe.
  template <class Event>
  const Event* get_if() const noexcept {
    return is<Event>() ? static_cast<const Event*>(event_) : nullptr;
  }

 private:
  event_ref(std::string_view type_name, std::size_t type_index, const void* event) noexcept
      : type_name_(type_name), type_index_(type_index), event_(event) {}

  std::string_view type_name_;
  std::size_t type_index_;
  const void* event_;
};

}  // namespace v1
}  // namespace courier

// Prints the event's type name (the event itself may not be printable).
template <>
struct fmt::formatter<courier::event_ref> : fmt::formatter<std::string_view> {
  template <class FormatContext>
  auto format(const courier::event_ref& event, FormatContext& ctx) const {
    return fmt::formatter<std::string_view>::format(event.type_name(), ctx);
  }
};
