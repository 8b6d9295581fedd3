// The queue behind bus::post(): producers on any thread, one runner at a time.
//
// moodycamel's ConcurrentQueue keeps each producer thread's items in
// order, and exactly one thread delivers at a time (the worker, or whoever
// holds run_mutex_ in manual mode), so events posted by one thread are
// observed in the order that thread posted them. The runner dequeues through
// a consumer token, which makes the queue rotate between producers (every
// 256 items): without it, the queue serves the fullest producer first and one
// flooding thread can starve the others' events indefinitely.
//
// drain() must wait for everything posted before it was called, but the queue
// does not order items of different producers, so a plain posted/handled count
// could be satisfied by later items. Instead every item carries the parity of
// an epoch: drain() advances the epoch and waits until the previous parity's
// handled count catches up with its posted count, while new posts count
// against the new parity, so a steady stream of posts cannot starve drain().
// Producers write only posted_ and the runner only handled_, on separate cache
// lines: a shared pending counter made every post bounce a line between the
// producer's core and the worker's, which cost more than the queue itself.
//
// For the same reason the worker does not sleep on moodycamel's blocking
// queue, whose semaphore every enqueue increments (one contended line per
// event). It spins a little when the queue runs dry, then parks on an atomic
// flag; a producer pays one fence and one read of that flag per post, and a
// wake-up only when the worker is parked.
#pragma once

#include "courier/bus_options.hpp"
#include "courier/detail/posted_event.hpp"
#include "courier/error.hpp"
#include "courier/event_name.hpp"

#include <concurrentqueue/concurrentqueue.h>
#include <fmt/format.h>

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <mutex>
#include <string>
#include <thread>
#include <type_traits>
#include <utility>

namespace courier {
inline namespace v1 {
namespace detail {

inline void log_async_error(const async_error& failure) {
  if (failure.event_type.empty()) {
    fmt::print(stderr, "courier: {}\n", failure.what());
  } else {
    fmt::print(stderr, "courier: an observer of {} threw on the async path: {}\n", failure.event_type,
               failure.what());
  }
}

template <class Target>
class post_queue final : private batch_error_sink {
 public:
  using item = posted_event<Target>;
  static constexpr std::size_t batch_size = 64;
  // Empty polls before the worker parks (~10-20 us of pause instructions).
  static constexpr int spin_rounds = 512;

  post_queue(Target& target, executor_kind executor, shutdown_policy on_shutdown,
             async_error_handler on_error)
      : target_(target),
        executor_(executor),
        on_shutdown_(on_shutdown),
        on_error_(on_error ? std::move(on_error) : async_error_handler(log_async_error)) {}

  post_queue(const post_queue&) = delete;
  post_queue& operator=(const post_queue&) = delete;
  ~post_queue() { shutdown(); }

  template <class Event>
  void post(Event&& event) {
    using stored = std::remove_cvref_t<Event>;
    if (executor_ == executor_kind::worker_thread) start_worker_once();
    const auto epoch = static_cast<std::uint8_t>(epoch_.load(std::memory_order_acquire) & 1U);
    posted_.count[epoch].fetch_add(1, std::memory_order_seq_cst);
    // Pairs with shutdown(): either it sees our posted count and waits for
    // this item, or we see it shutting down and refuse.
    if (shutting_down_.load(std::memory_order_seq_cst)) {
      settle(epoch, 1);
      throw error(errc::bus_shutting_down, fmt::format("post({})", event_name<stored>()));
    }
    if (!queue_.enqueue(item(std::in_place_type<stored>, std::forward<Event>(event), epoch))) {
      settle(epoch, 1);
      throw std::bad_alloc();
    }
    if (executor_ == executor_kind::worker_thread) wake_worker_if_parked();
  }

  std::size_t run_pending(std::size_t max) {
    if (executor_ != executor_kind::manual) {
      throw error(errc::invalid_option, "run_pending() on a bus that owns a worker thread");
    }
    if (runner_.load(std::memory_order_relaxed) == std::this_thread::get_id()) {
      throw error(errc::would_deadlock, "run_pending() from inside an observer it is running");
    }
    std::lock_guard lock(run_mutex_);
    runner_.store(std::this_thread::get_id(), std::memory_order_relaxed);
    std::size_t handled = 0;
    std::array<item, batch_size> batch;
    while (handled < max) {
      const std::size_t wanted = std::min(batch_size, max - handled);
      const std::size_t count = queue_.try_dequeue_bulk(consumer_, batch.begin(), wanted);
      if (count == 0) break;
      handled += deliver(batch.data(), count);
    }
    runner_.store(std::thread::id(), std::memory_order_relaxed);
    return handled;
  }

  void drain() {
    if (runner_.load(std::memory_order_relaxed) == std::this_thread::get_id()) {
      throw error(errc::would_deadlock, "drain() from inside an observer of a posted event");
    }
    std::lock_guard lock(drain_mutex_);
    const unsigned previous = epoch_.fetch_add(1, std::memory_order_acq_rel) & 1U;
    wait_until_handled(previous);
  }

  // Refuses new posts, then drains or discards what is queued, then stops the
  // worker. Idempotent; called by the bus's destructor.
  void shutdown() noexcept {
    if (shutting_down_.exchange(true, std::memory_order_seq_cst)) return;
    if (on_shutdown_ == shutdown_policy::discard) discard_.store(true, std::memory_order_release);
    if (worker_.joinable()) {
      // The worker empties the queue; we wait for the counts, then wake it to stop.
      wait_until_handled(0);
      wait_until_handled(1);
      stop_.store(true, std::memory_order_seq_cst);
      wake_worker_if_parked();
      worker_.join();
    } else {
      std::lock_guard lock(run_mutex_);
      std::array<item, batch_size> batch;
      while (const std::size_t count = queue_.try_dequeue_bulk(consumer_, batch.begin(), batch_size)) {
        deliver(batch.data(), count);
      }
    }
    if (const auto dropped = discarded_.load(std::memory_order_relaxed); dropped != 0) {
      report({},
             std::make_exception_ptr(error(
                 errc::bus_shutting_down, fmt::format("discarded {} posted event(s) at shutdown", dropped))));
    }
  }

  // An observer's exception from a path whose caller cannot take it, to the
  // error handler. Never throws. Thread-safe.
  void report_error(std::string_view event_type, std::exception_ptr exception) noexcept {
    report(event_type, std::move(exception));
  }

  // Counts since the bus was made, for its metrics. Thread-safe; a reader
  // racing a post may see it posted and not yet handled, never the reverse.
  std::uint64_t handled_total() const noexcept {
    return handled_.count[0].load(std::memory_order_acquire) +
           handled_.count[1].load(std::memory_order_acquire);
  }
  std::uint64_t posted_total() const noexcept {
    return posted_.count[0].load(std::memory_order_acquire) +
           posted_.count[1].load(std::memory_order_acquire);
  }
  std::uint64_t errors_reported() const noexcept { return errors_reported_.load(std::memory_order_relaxed); }
  std::uint64_t discarded() const noexcept { return discarded_.load(std::memory_order_relaxed); }

  // The error handler, for paths that may outlive the bus (observers on an
  // executor). Thread-safe.
  const async_error_handler& error_handler() const noexcept { return on_error_; }

 private:
  void start_worker_once() {
    std::call_once(worker_started_, [this] { worker_ = std::thread([this] { run_worker(); }); });
  }

  void run_worker() {
    runner_.store(std::this_thread::get_id(), std::memory_order_relaxed);
    std::array<item, batch_size> batch;
    int idle_rounds = 0;
    for (;;) {
      if (const std::size_t count = queue_.try_dequeue_bulk(consumer_, batch.begin(), batch_size)) {
        deliver(batch.data(), count);
        idle_rounds = 0;
        continue;
      }
      if (stop_.load(std::memory_order_acquire)) return;
      if (++idle_rounds < spin_rounds) {
        spin_pause();
        continue;
      }
      // Announce the park, then look once more: either we see the item a
      // producer enqueued, or it sees parked_ and wakes us (both sides fence).
      parked_.store(true, std::memory_order_relaxed);
      std::atomic_thread_fence(std::memory_order_seq_cst);
      if (queue_.size_approx() == 0 && !stop_.load(std::memory_order_relaxed)) {
        parked_.wait(true, std::memory_order_acquire);
      }
      parked_.store(false, std::memory_order_relaxed);
      idle_rounds = 0;
    }
  }

  void wake_worker_if_parked() noexcept {
    std::atomic_thread_fence(std::memory_order_seq_cst);
    if (parked_.load(std::memory_order_relaxed)) {
      parked_.store(false, std::memory_order_release);
      parked_.notify_one();
    }
  }

  static void spin_pause() noexcept {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#else
    std::this_thread::yield();
#endif
  }

  // Delivers (or discards) count items, a run of same-type events at a time,
  // settles their counts, and returns how many there were.
  std::size_t deliver(item* items, std::size_t count) {
    std::array<std::uint64_t, 2> settled{0, 0};
    std::size_t run_end = 0;
    for (std::size_t first = 0; first < count; first = run_end) {
      run_end = first + 1;
      while (run_end < count && items[run_end].same_type(items[first])) ++run_end;
      if (items[first].is_marker()) continue;
      if (discard_.load(std::memory_order_relaxed)) {
        discarded_.fetch_add(run_end - first, std::memory_order_relaxed);
      } else {
        try {
          items[first].deliver_run(target_, run_end - first, *this);
        } catch (...) {  // not an observer's (those are reported per event): Signals2's own
          report(items[first].type_name(), std::current_exception());
        }
      }
      for (std::size_t i = first; i < run_end; ++i) {
        ++settled[items[i].epoch()];
        items[i].reset();
      }
    }
    settle(0, settled[0]);
    settle(1, settled[1]);
    return static_cast<std::size_t>(settled[0] + settled[1]);
  }

  // Counts items of the given parity as handled and wakes drain() if it waits.
  void settle(unsigned epoch, std::uint64_t count) {
    if (count == 0) return;
    auto& handled = handled_.count[epoch];
    handled.fetch_add(count, std::memory_order_seq_cst);
    if (drain_waiters_.load(std::memory_order_seq_cst) != 0) handled.notify_all();
  }

  // Returns once every item of this parity posted so far has been handled.
  // Reading handled before posted makes the check sound: handled never
  // exceeds posted, so handled(t1) >= posted(t2 > t1) means every item posted
  // by t1 was handled by t1.
  void wait_until_handled(unsigned epoch) {
    auto& handled = handled_.count[epoch];
    const auto& posted = posted_.count[epoch];
    if (executor_ == executor_kind::manual) {
      while (handled.load(std::memory_order_seq_cst) < posted.load(std::memory_order_seq_cst)) {
        if (run_pending(static_cast<std::size_t>(-1)) == 0) std::this_thread::yield();
      }
      return;
    }
    drain_waiters_.fetch_add(1, std::memory_order_seq_cst);
    for (;;) {
      const auto done = handled.load(std::memory_order_seq_cst);
      if (done >= posted.load(std::memory_order_seq_cst)) break;
      handled.wait(done, std::memory_order_seq_cst);
    }
    drain_waiters_.fetch_sub(1, std::memory_order_seq_cst);
  }

  void report(std::string_view event_type, std::exception_ptr exception) noexcept override {
    errors_reported_.fetch_add(1, std::memory_order_relaxed);  // the error path: rare, shared is fine
    try {
      on_error_(async_error{event_type, std::move(exception)});
    } catch (...) {
      std::fputs("courier: the async error handler threw; its exception was dropped\n", stderr);
    }
  }

  Target& target_;
  const executor_kind executor_;
  const shutdown_policy on_shutdown_;
  const async_error_handler on_error_;

  moodycamel::ConcurrentQueue<item> queue_;
  moodycamel::ConsumerToken consumer_{queue_};  // used only by the runner
  // Per epoch parity; producers write posted_, the runner handled_.
  struct alignas(64) counters {
    std::array<std::atomic<std::uint64_t>, 2> count{};
  };
  counters posted_;
  counters handled_;
  std::atomic<unsigned> epoch_{0};
  std::atomic<int> drain_waiters_{0};
  std::atomic<bool> shutting_down_{false};
  std::atomic<bool> discard_{false};
  std::atomic<bool> stop_{false};
  alignas(64) std::atomic<bool> parked_{false};  // read by every post: its own line
  std::atomic<std::size_t> discarded_{0};
  std::atomic<std::uint64_t> errors_reported_{0};
  std::atomic<std::thread::id> runner_{};

  std::mutex drain_mutex_;
  std::mutex run_mutex_;
  std::once_flag worker_started_;
  std::thread worker_;
};

}  // namespace detail
}  // namespace v1
}  // namespace courier
