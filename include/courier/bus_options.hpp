// The options a bus is constructed with, and its threading policies.
//
// Threading and the observer list are a template policy with named aliases,
// as sigslot does. courier::bus and courier::bus_st keep each type's
// observers in a Boost.Signals2 signal (the single-threaded one with
// Signals2's dummy_mutex, skipping every cross-thread wait);
// courier::snapshot_bus and courier::snapshot_bus_st in courier's own
// copy-on-write list (detail/observer_list.hpp), same API and rules, a
// fraction of the cost per publish. README's bus section says which to pick.
#pragma once

#include "courier/metrics.hpp"
#include "courier/observer_executor.hpp"

#include <boost/signals2/dummy_mutex.hpp>
#include <boost/signals2/mutex.hpp>

#include <exception>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

namespace courier {
inline namespace v1 {

// Any thread may subscribe, publish, post and disconnect at any time.
struct multi_threaded {
  using mutex = boost::signals2::mutex;
  static constexpr bool thread_safe = true;
  static constexpr bool own_observer_list = false;
};

// One thread owns the bus (post() alone may still come from any thread: the
// queue is concurrent, and the owner runs the observers in run_pending()).
struct single_threaded {
  using mutex = boost::signals2::dummy_mutex;
  static constexpr bool thread_safe = false;
  static constexpr bool own_observer_list = false;
};

// As multi_threaded and single_threaded, with courier's own observer list.
struct snapshot_multi_threaded {
  using mutex = boost::signals2::mutex;
  static constexpr bool thread_safe = true;
  static constexpr bool own_observer_list = true;
};
struct snapshot_single_threaded {
  using mutex = boost::signals2::dummy_mutex;
  static constexpr bool thread_safe = false;
  static constexpr bool own_observer_list = true;
};

// Who runs the observers of posted events.
enum class executor_kind {
  worker_thread,  // the bus starts one thread on the first post and owns it
  manual,         // the application calls run_pending() (a game loop, an io_context)
};

// What the bus's destructor does with posted events not yet handled.
enum class shutdown_policy {
  drain,    // handle them all before the destructor returns (the default)
  discard,  // destroy them unhandled, and report how many to the error handler
};

// An exception an observer threw on the async path, or a shutdown report.
struct async_error {
  std::string_view event_type;  // the event's name; empty for a shutdown report
  std::exception_ptr exception;

  // The exception's what(), or a fixed text for non-std exceptions.
  std::string what() const {
    try {
      std::rethrow_exception(exception);
    } catch (const std::exception& e) {
      return e.what();
    } catch (...) {
      return "an exception not derived from std::exception";
    }
  }
};

using async_error_handler = std::function<void(const async_error&)>;

// Options of a basic_bus. Aggregate: use designated initializers.
struct bus_options {
  // Unset: worker_thread for courier::bus, manual for courier::bus_st (whose
  // observers must run on the owning thread).
  std::optional<executor_kind> executor = {};
  shutdown_policy on_shutdown = shutdown_policy::drain;
  // Called on the thread that ran the observer. Empty: log to stderr (fmt).
  async_error_handler on_error = {};
  // Where the bus reports its figures (bus_stats, as courier_bus_*
  // families labelled bus=name); needs a name. Thread-safe bus only: a
  // scrape reads the bus from another thread.
  std::shared_ptr<metrics_registry> metrics = {};
  std::string name = {};
};

// Options of one subscription. Aggregate: use designated initializers.
template <class Event>
struct subscribe_options {
  // Observers run in ascending priority; equal priorities in subscription order.
  int priority = 0;
  // When set, the observer is called only for events the filter accepts.
  std::function<bool(const Event&)> filter = {};
  // When set, calls stop once the owner is gone, and the owner is kept alive
  // for the length of each call (Signals2's track_foreign).
  std::weak_ptr<const void> owner = {};
  // When set, the observer runs there with a copy of each event, instead of
  // inside publish() (see observer_executor.hpp for the rules; courier::on()
  // in <courier/asio.hpp> makes one from an Asio executor). The priority
  // and the filter apply when the event is published; the owner is checked
  // again when the call runs.
  observer_executor executor = {};
};

}  // namespace v1
}  // namespace courier
