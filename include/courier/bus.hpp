// courier::bus: a typed subject/observer bus on Boost.Signals2.
//
// Observers subscribe to an event type (any struct) and are called when an
// event of exactly that type is published. Each type has its own Signals2
// signal, found by a dense per-type index in a two-level table: no typeid
// hashing on the hot path, and a type nobody observes costs two loads.
//
// publish(e) runs the observers on the caller's thread, in priority order and
// then subscription order, seeing the observers connected when it starts.
// An observer's exception propagates to the caller of publish(), and the
// observers after it are not called for that event. Subscribing,
// unsubscribing and publishing from inside an observer are all allowed.
//
// post(e) queues the event (moodycamel's concurrent queue); the bus's worker
// thread, or the application through run_pending(), publishes it later.
// Events one thread posts are observed in the order it posted them. An
// exception on this path goes to the error handler (bus_options::on_error)
// and the worker keeps running. drain() waits until every event posted before
// it was called has been handled. The destructor refuses new posts, then
// handles (shutdown_policy::drain, default) or discards what is queued.
//
// subscribe_options::executor runs an observer elsewhere: publish() hands
// it a copy of the event, and it runs on that executor, in order (see
// observer_executor.hpp).
//
// courier::bus is thread-safe; courier::bus_st uses Signals2's dummy_mutex and
// must be used from one thread, except post(), which any thread may call.
// courier::snapshot_bus and snapshot_bus_st are the same with courier's own
// observer list in place of Signals2's (detail/observer_list.hpp): every rule
// above holds for them too.
#pragma once

#include "courier/bus_options.hpp"
#include "courier/bus_stats.hpp"
#include "courier/detail/bus_metrics.hpp"
#include "courier/detail/observer_list.hpp"
#include "courier/detail/post_queue.hpp"
#include "courier/detail/publish_scope.hpp"
#include "courier/detail/run_delivery.hpp"
#include "courier/detail/signals2_slot.hpp"
#include "courier/detail/type_index.hpp"
#include "courier/detail/type_table.hpp"
#include "courier/error.hpp"
#include "courier/event_name.hpp"
#include "courier/event_ref.hpp"
#include "courier/subscription.hpp"

#include <fmt/format.h>
#include <boost/config.hpp>
#include <boost/signals2/signal.hpp>
#include <boost/signals2/signal_type.hpp>

#include <atomic>
#include <concepts>
#include <cstddef>
#include <memory>
#include <mutex>
#include <string_view>
#include <type_traits>
#include <utility>

namespace courier {
inline namespace v1 {

template <class ThreadingPolicy>
class basic_bus {
 public:
  using threading_policy = ThreadingPolicy;

  // Throws courier::error (invalid_option) for a worker thread on a
  // single-threaded bus.
  explicit basic_bus(bus_options options = {})
      : queue_(*this, choose_executor(options.executor), options.on_shutdown, std::move(options.on_error)) {
    if (options.metrics) {
      if (options.name.empty())
        throw error(errc::invalid_option, "bus_options::metrics needs bus_options::name");
      if constexpr (!ThreadingPolicy::thread_safe) {
        throw error(
            errc::invalid_option,
            "bus_options::metrics: a single-threaded bus cannot be read by a scrape on another thread");
      }
      metrics_ = options.metrics->add([this, name = std::move(options.name)](metric_set& out) {
        detail::report_bus(out, name, stats());
      });
    }
  }

  basic_bus(const basic_bus&) = delete;
  basic_bus& operator=(const basic_bus&) = delete;

  // Stops the async path first (see shutdown_policy), then disconnects every
  // observer. Subscriptions may outlive the bus; they become no-ops.
  ~basic_bus() {
    metrics_.reset();  // first: a scrape in progress reads this bus
    queue_.shutdown();
    // Subscriptions share ownership of the per-type entries, so the signals
    // may outlive the bus: disconnect their slots explicitly.
    types_.for_each([](type_entry_base& entry) { entry.disconnect_all(); });
    all_->disconnect_all();
  }

  // Calls handler(const Event&) for every Event published from now until the
  // returned subscription is disconnected or destroyed. Throws what Signals2
  // throws on allocation failure, and courier::error (invalid_option) for an
  // executor when Event cannot be copied. Thread-safe (bus) / single thread
  // (bus_st).
  template <class Event, class Handler>
  requires std::invocable<Handler&, const Event&>
  [[nodiscard]] subscription subscribe(Handler&& handler, subscribe_options<Event> options = {}) {
    static_assert(std::is_same_v<Event, std::remove_cvref_t<Event>>,
                  "subscribe<Event>: name the event type without const or &");
    type_entry<Event>& entry = entry_for<Event>();
    if (options.executor) {
      if constexpr (std::is_copy_constructible_v<Event>) {
        return subscribe_on_executor<Event>(
            entry, std::function<void(const Event&)>(std::forward<Handler>(handler)), options);
      } else {
        throw error(
            errc::invalid_option,
            fmt::format("subscribe<{}>: an observer on an executor gets a copy of each event, and this "
                        "event type cannot be copied",
                        event_name<Event>()));
      }
    }
    if (options.filter) {
      return connect(entry.signal, observer_count_of<Event>(entry), options.priority, options.owner,
                     [handler = std::forward<Handler>(handler),
                      filter = std::move(options.filter)](const Event& event) mutable {
                       if (filter(event)) handler(event);
                     });
    }
    return connect(entry.signal, observer_count_of<Event>(entry), options.priority, options.owner,
                   std::forward<Handler>(handler));
  }

  // Calls owner->method(event) while owner lives; the owner is tracked, not
  // kept alive (it is kept alive only during each call).
  template <class Event, class Owner>
  [[nodiscard]] subscription subscribe(const std::shared_ptr<Owner>& owner,
                                       void (Owner::*method)(const Event&),
                                       subscribe_options<Event> options = {}) {
    options.owner = owner;
    Owner* target = owner.get();
    return subscribe<Event>([target, method](const Event& event) { (target->*method)(event); },
                            std::move(options));
  }

  // Calls handler(event_ref) for every event of every type, after the typed
  // observers of that event. For bridges and loggers. Same rules as subscribe.
  // Throws courier::error (invalid_option) for an executor: an event_ref
  // views an event that is gone once publish() returns.
  template <class Handler>
  requires std::invocable<Handler&, const event_ref&>
  [[nodiscard]] subscription subscribe_all(Handler&& handler, subscribe_options<event_ref> options = {}) {
    if (options.executor) {
      throw error(
          errc::invalid_option,
          "subscribe_all: subscribe_options::executor needs a copy of the event, and an event_ref is a view");
    }
    if (options.filter) {
      return connect(all_->signal, all_observer_count(), options.priority, options.owner,
                     [handler = std::forward<Handler>(handler),
                      filter = std::move(options.filter)](const event_ref& event) mutable {
                       if (filter(event)) handler(event);
                     });
    }
    return connect(all_->signal, all_observer_count(), options.priority, options.owner,
                   std::forward<Handler>(handler));
  }

  // Calls the observers of Event connected when the call starts, on this
  // thread. Propagates the first exception an observer throws.
  template <class Event>
  void publish(const Event& event) {
    auto* entry = static_cast<type_entry<Event>*>(types_.find(detail::type_index<Event>()));
    const bool typed = entry != nullptr && entry->observers.load(std::memory_order_acquire) != 0;
    const bool catch_all = all_->observers.load(std::memory_order_acquire) != 0;
    if (!typed && !catch_all) return;
    [[maybe_unused]] scope_guard scope;
    if (typed) entry->signal(event, nullptr);
    if (catch_all) all_->signal(event_ref::of(event), nullptr);
  }

  // Queues the event for the executor. Throws courier::error
  // (bus_shutting_down) once the destructor has begun, std::bad_alloc when
  // the queue cannot grow. Thread-safe on both bus and bus_st.
  template <class Event>
  void post(Event&& event) {
    queue_.post(std::forward<Event>(event));
  }

  // Manual executor only: publishes up to max queued events on this thread
  // and returns how many. One caller at a time runs; others wait their turn.
  // Throws courier::error (invalid_option) on a bus with a worker thread,
  // (would_deadlock) from inside an observer it is running.
  std::size_t run_pending(std::size_t max = static_cast<std::size_t>(-1)) { return queue_.run_pending(max); }

  // Returns once every event posted before this call has been handled (with
  // a manual executor it handles them itself). Throws courier::error
  // (would_deadlock) from inside an observer of a posted event. Thread-safe.
  void drain() { queue_.drain(); }

  // Hands an exception an observer threw to the error handler
  // (bus_options::on_error), as for posted events: for code that publishes
  // on behalf of someone who cannot take the exception (an adapter
  // publishing a peer's message). Never throws. Thread-safe.
  void report_error(std::string_view event_type, std::exception_ptr exception) noexcept {
    queue_.report_error(event_type, std::move(exception));
  }

  // The async path's counts and the observers per event type.
  // Thread-safe (bus); the owning thread only (bus_st).
  bus_stats stats() const {
    bus_stats out;
    out.posted = queue_.posted_total();
    out.handled = queue_.handled_total();  // read after posted: never ahead of it
    out.pending = out.posted > out.handled ? out.posted - out.handled : 0;
    out.discarded = queue_.discarded();
    out.observer_errors = queue_.errors_reported();
    {
      std::lock_guard lock(types_mutex_);  // for_each reads what a first subscribe inserts
      types_.for_each([&](const type_entry_base& entry) {
        out.observers.emplace_back(entry.name(), entry.observers.load(std::memory_order_acquire));
      });
    }
    out.observers.emplace_back("*", all_->observers.load(std::memory_order_acquire));
    return out;
  }

  // True when Event has at least one connected observer (a hint: another
  // thread may change it at once). Thread-safe.
  template <class Event>
  bool has_observers() const noexcept {
    const auto* entry = types_.find(detail::type_index<Event>());
    return entry != nullptr && entry->observers.load(std::memory_order_acquire) != 0;
  }

 private:
  friend class detail::posted_event<basic_bus>;

  // The async path: delivers a run of posted events of one type, as a
  // publish() of each would, reporting observers' exceptions to errors. While
  // the type has a single observer, the run goes to it in one Signals2 call
  // (see detail/run_delivery.hpp for why and for what keeps that invisible).
  template <class Event>
  void deliver_run(const detail::event_run<Event>& run, detail::batch_error_sink& errors) {
    [[maybe_unused]] scope_guard scope;
    const std::string_view name = event_name<Event>();
    std::size_t next = 0;
    while (next < run.count) {
      auto* entry = static_cast<type_entry<Event>*>(types_.find(detail::type_index<Event>()));
      if (run.count - next > 1 && entry != nullptr && entry->observers.load(std::memory_order_acquire) == 1 &&
          all_->observers.load(std::memory_order_acquire) == 0) {
        detail::run_delivery<Event> delivery(run, next, errors, name, all_->observers);
        entry->signal(run[next], &delivery);
        if (delivery.end() != next) {
          next = delivery.end();
          continue;
        }
        // Nobody ran (the observer was blocked or just left): one event at a time.
      }
      try {
        publish(run[next]);
      } catch (...) {
        errors.report(name, std::current_exception());
      }
      ++next;
    }
  }

  // Each type's observers: a Signals2 signal, or courier's own list. The
  // second argument is null for a publish(), a run of posted events
  // otherwise (detail/run_delivery.hpp).
  template <class Event>
  using signal_of = std::conditional_t<
      ThreadingPolicy::own_observer_list,
      detail::observer_list<ThreadingPolicy::thread_safe, const Event&, detail::run_delivery<Event>*>,
      typename boost::signals2::signal_type<
          void(const Event&, detail::run_delivery<Event>*),
          boost::signals2::keywords::mutex_type<typename ThreadingPolicy::mutex>,
          boost::signals2::keywords::slot_function_type<detail::slot_call<Event>>>::type>;

  // One per event type: its signal and the count publish() reads to skip it.
  struct type_entry_base {
    virtual ~type_entry_base() = default;
    virtual void disconnect_all() = 0;
    virtual std::string_view name() const noexcept = 0;
    std::atomic<std::size_t> observers{0};
  };
  template <class Event>
  struct type_entry final : type_entry_base {
    void disconnect_all() override { signal.disconnect_all_slots(); }
    std::string_view name() const noexcept override { return event_name<Event>(); }
    signal_of<Event> signal;
  };

  // The thread-safe bus marks publishes so disconnect() knows when it must
  // not wait; the single-threaded bus never waits and skips the marking.
  struct no_scope {};
  using scope_guard = std::conditional_t<ThreadingPolicy::thread_safe, detail::publish_scope, no_scope>;

  static executor_kind choose_executor(std::optional<executor_kind> requested) {
    if (!requested) {
      return ThreadingPolicy::thread_safe ? executor_kind::worker_thread : executor_kind::manual;
    }
    if (*requested == executor_kind::worker_thread && !ThreadingPolicy::thread_safe) {
      throw error(errc::invalid_option,
                  "bus_options::executor: a single-threaded bus cannot own a worker thread");
    }
    return *requested;
  }

  // The entry of Event, created on first use.
  template <class Event>
  type_entry<Event>& entry_for() {
    const std::size_t index = detail::type_index<Event>();
    type_entry_base* found = types_.find(index);
    if (found == nullptr) {
      std::lock_guard lock(types_mutex_);
      found = types_.find(index);
      if (found == nullptr) found = types_.insert(index, std::make_shared<type_entry<Event>>());
    }
    return static_cast<type_entry<Event>&>(*found);
  }

  // The count a subscription decrements, sharing ownership of its entry:
  // subscriptions keep the entry alive, so they may outlive the bus. One
  // reference count taken, no copy of the owner made first.
  template <class Event>
  std::shared_ptr<std::atomic<std::size_t>> observer_count_of(type_entry<Event>& entry) const {
    return std::shared_ptr<std::atomic<std::size_t>>(types_.owner(detail::type_index<Event>()),
                                                     &entry.observers);
  }
  std::shared_ptr<std::atomic<std::size_t>> all_observer_count() const {
    return std::shared_ptr<std::atomic<std::size_t>>(all_, &all_->observers);
  }

  // An observer on an executor: publish() queues a call with a copy of the
  // event in the subscription's gate (detail/executor_gate.hpp), which runs
  // the calls there in order. The handler lives in the calls, not in the
  // Signals2 slot, so a call still running when the slot goes keeps it. The
  // handler is a std::function here so that this, and its connect(), is
  // compiled once per event type, not once per subscribe() call site.
  template <class Event>
  subscription subscribe_on_executor(type_entry<Event>& entry, std::function<void(const Event&)> handler,
                                     subscribe_options<Event>& options) {
    const std::string_view name = event_name<Event>();
    auto gate = std::make_shared<detail::executor_gate>(
        std::move(options.executor), [report = queue_.error_handler(), name](std::exception_ptr failure) {
          report(async_error{name, std::move(failure)});
        });
    auto shared_handler = std::make_shared<const std::function<void(const Event&)>>(std::move(handler));
    const bool tracks_owner = tracks(options.owner);
    auto enqueue = [gate, shared_handler, owner = options.owner, tracks_owner,
                    filter = std::move(options.filter)](const Event& event) {
      if (filter && !filter(event)) return;
      gate->enqueue([shared_handler, owner, tracks_owner, copy = event] {
        if (!tracks_owner) {
          (*shared_handler)(copy);
        } else if (const auto alive = owner.lock()) {  // kept alive for the call, as Signals2 does
          (*shared_handler)(copy);
        }
      });
    };
    return connect(entry.signal, observer_count_of<Event>(entry), options.priority, options.owner,
                   std::move(enqueue), std::move(gate));
  }

  static bool tracks(const std::weak_ptr<const void>& owner) noexcept {
    return owner.owner_before(std::weak_ptr<const void>{}) || std::weak_ptr<const void>{}.owner_before(owner);
  }

  // Connects call to signal and returns its subscription. With Signals2, a
  // slot_anchor inside the stored slot tells the subscription when Signals2
  // lets go of it (see subscription.hpp); courier's own list keeps the
  // subscription's state as the observer itself.
  template <class Signal, class Call>
  subscription connect(Signal& signal, std::shared_ptr<std::atomic<std::size_t>> observers, int priority,
                       const std::weak_ptr<const void>& owner, Call&& call,
                       std::shared_ptr<detail::executor_gate> gate = nullptr) {
    if constexpr (ThreadingPolicy::own_observer_list) {
      auto state = signal.connect(std::move(observers), priority, owner, tracks(owner),
                                  [call = std::forward<Call>(call)](const detail::subscription_state& self,
                                                                    const auto& event, auto* run) mutable {
                                    if (run == nullptr) [[likely]] {
                                      call(event);
                                    } else {
                                      deliver_run_to(call, *run, self);
                                    }
                                  });
      state->gate = std::move(gate);
      return subscription(std::move(state));
    } else {
      using event_type = typename Signal::slot_function_type::event_type;
      using observer = detail::signals2_observer_of<event_type, std::decay_t<Call>>;
      std::atomic<std::size_t>& count = *observers;
      auto state = std::make_shared<observer>(std::forward<Call>(call), std::move(observers),
                                              ThreadingPolicy::thread_safe);
      state->gate = std::move(gate);
      state->invoke = [](detail::signals2_observer<event_type>& self, const event_type& event,
                         detail::run_delivery<event_type>* run) {
        auto& handler = *static_cast<observer&>(self).handler;  // present while the slot lives
        if (run == nullptr) [[likely]] {
          handler(event);
        } else {
          deliver_run_to(handler, *run, self);
        }
      };
      typename Signal::slot_type slot{detail::slot_call<event_type>(state)};
      if (tracks(owner)) slot.track_foreign(owner);
      count.fetch_add(1, std::memory_order_acq_rel);
      try {
        state->connection = signal.connect(priority, slot);
      } catch (...) {
        count.fetch_sub(1, std::memory_order_acq_rel);
        throw;
      }
      return subscription(std::move(state));
    }
  }

  // Out of line so the wrapper's publish() path stays a few instructions
  // (inlined, this loop made it save five registers on every call).
  template <class Call, class Event>
  BOOST_NOINLINE static void deliver_run_to(Call& call, detail::run_delivery<Event>& run,
                                            const detail::subscription_state& self) {
    run.deliver(call, [&self] { return self.alone(); });
  }

  detail::type_table<type_entry_base> types_;
  std::shared_ptr<type_entry<event_ref>> all_ = std::make_shared<type_entry<event_ref>>();
  mutable typename ThreadingPolicy::mutex types_mutex_;
  detail::post_queue<basic_bus> queue_;
  metrics_registry::registration metrics_;  // last: destroyed first (the destructor resets it earlier still)
};

// The thread-safe bus.
using bus = basic_bus<multi_threaded>;
// The single-threaded bus (Signals2 dummy_mutex): one thread subscribes,
// publishes and runs posted events; other threads may only post().
using bus_st = basic_bus<single_threaded>;
// The same two with courier's own observer list (detail/observer_list.hpp):
// same API and rules; a publish costs a few ns plus, per observer, about what
// a loop over std::functions costs (bench/README.md, "The snapshot bus").
using snapshot_bus = basic_bus<snapshot_multi_threaded>;
using snapshot_bus_st = basic_bus<snapshot_single_threaded>;

}  // namespace v1
}  // namespace courier
