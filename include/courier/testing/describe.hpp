// How the testing kit prints an event in a failure message.
//
// Through fmt when the event type has a fmt::formatter (give your events
// one: failure messages become readable), otherwise as its type name, so
// the kit works with any event type.
#pragma once

#include "courier/event_name.hpp"

#include <fmt/format.h>

#include <cstddef>
#include <string>
#include <vector>

namespace courier {
inline namespace v1 {
namespace testing {

template <class Event>
std::string describe(const Event& event) {
  if constexpr (fmt::is_formattable<Event>::value) {
    return fmt::format("{}", event);
  } else {
    return fmt::format("<{}>", event_name<Event>());
  }
}

// Up to limit events, numbered from 0, one per line; the count of the rest.
template <class Event>
std::string describe_all(const std::vector<Event>& events, std::size_t limit = 20) {
  if (events.empty()) return "  (no events)\n";
  std::string out;
  for (std::size_t i = 0; i < events.size() && i < limit; ++i) {
    out += fmt::format("  #{} {}\n", i, describe(events[i]));
  }
  if (events.size() > limit) out += fmt::format("  ... and {} more\n", events.size() - limit);
  return out;
}

}  // namespace testing
}  // namespace v1
}  // namespace courier
