// A bus's figures as metric families (courier/metrics.hpp): courier_bus_*,
// labelled bus=<bus_options::name>. Reported from bus_stats at scrape time.
#pragma once

#include "courier/bus_stats.hpp"
#include "courier/metrics.hpp"

#include <string>
#include <utility>
#include <vector>

namespace courier {
inline namespace v1 {
namespace detail {

inline void report_bus(metric_set& out, const std::string& name, const bus_stats& stats) {
  const std::vector<std::pair<std::string, std::string>> labels = {{"bus", name}};
  const metric_set::labelled add(out, labels);
  using enum metric_type;
  add("courier_bus_posted_events_total", counter, "post() calls, refused ones included.",
      static_cast<double>(stats.posted));
  add("courier_bus_handled_events_total", counter, "Posted events delivered, refused or discarded.",
      static_cast<double>(stats.handled));
  add("courier_bus_pending_events", gauge, "Posted events not yet handled.",
      static_cast<double>(stats.pending));
  add("courier_bus_discarded_events_total", counter,
      "Posted events dropped at shutdown (shutdown_policy::discard).", static_cast<double>(stats.discarded));
  add("courier_bus_observer_errors_total", counter,
      "Exceptions observers threw that went to bus_options::on_error.",
      static_cast<double>(stats.observer_errors));
  for (const auto& [event_type, observers] : stats.observers) {
    out.add("courier_bus_observers", gauge, "Observers connected, per event type (\"*\": every type).",
            {{"bus", name}, {"event_type", event_type}}, static_cast<double>(observers));
  }
}

}  // namespace detail
}  // namespace v1
}  // namespace courier
