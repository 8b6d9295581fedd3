// A bus's figures, for dashboards and tests (basic_bus::stats()).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace courier {
inline namespace v1 {

struct bus_stats {
  // The async path. publish() is not counted: a shared count would put an
  // atomic write on the bus's hottest path, and publish() runs on the
  // caller's thread, which can count what it publishes itself.
  std::uint64_t posted = 0;           // post() calls, refused ones included
  std::uint64_t handled = 0;          // posted events delivered, refused or discarded
  std::uint64_t pending = 0;          // posted, not yet handled
  std::uint64_t discarded = 0;        // dropped at shutdown (shutdown_policy::discard)
  std::uint64_t observer_errors = 0;  // exceptions handed to bus_options::on_error
  // Connected observers per event type (event_name), catch-all ones under "*".
  std::vector<std::pair<std::string, std::size_t>> observers = {};
};

}  // namespace v1
}  // namespace courier
