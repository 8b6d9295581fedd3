// The printable name of an event type.
//
// Catch-all observers, loggers and adapters need a name for each event type.
// By default it is the demangled C++ type name, computed once per type; a
// program that wants stable names (adapters put them on the wire) specializes
// courier::event_name_of<E> with `static constexpr std::string_view value`.
#pragma once

#include <boost/core/type_name.hpp>

#include <string>
#include <string_view>

namespace courier {
inline namespace v1 {

// Customization point. Example:
//   template <> struct courier::event_name_of<parcel_picked_up> {
//     static constexpr std::string_view value = "parcel.picked_up";
//   };
template <class Event>
struct event_name_of {};

// The name of Event. Thread-safe; the view stays valid for the whole program.
template <class Event>
std::string_view event_name() {
  if constexpr (requires { std::string_view{event_name_of<Event>::value}; }) {
    return event_name_of<Event>::value;
  } else {
    static const std::string name = boost::core::type_name<Event>();
    return name;
  }
}

}  // namespace v1
}  // namespace courier
