// The queue behind bus::post(): producers on any thread, one runner at a time.
//
// moodycamel's BlockingConcurrentQueue keeps each producer thread's items in
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
// pending count reaches zero, while new posts count against the new parity,
// so a steady stream of posts cannot starve drain().
#pragma once

#include "courier/bus_options.hpp"
#include "courier/detail/posted_event.hpp"
#include "courier/error.hpp"
#include "courier/event_name.hpp"

#include <concurrentqueue/blockingconcurrentqueue.h>
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
    fmt::print(stderr, "courier: an observer of {} threw on the async path: {}\n",
               failure.event_type, failure.what());
  }
}

template <class Target>
class post_queue {
 public:
  using item = posted_event<Target>;
  static constexpr std::size_t batch_size = 64;

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
    pending_[epoch].fetch_add(1, std::memory_order_seq_cst);
    // Pairs with shutdown(): either it sees our pending count and waits for
    // this item, or we see it shutting down and refuse.
    if (shutting_down_.load(std::memory_order_seq_cst)) {
      settle(epoch, 1);
      throw error(errc::bus_shutting_down, fmt::format("post({})", event_name<stored>()));
    }
    if (!queue_.enqueue(item(std::in_place_type<stored>, std::forward<Event>(event), epoch))) {
      settle(epoch, 1);
      throw std::bad_alloc();
    }
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
    auto& pending = pending_[previous];
    if (executor_ == executor_kind::manual) {
      while (pending.load(std::memory_order_acquire) != 0) {
        if (run_pending(static_cast<std::size_t>(-1)) == 0) std::this_thread::yield();
      }
      return;
    }
    drain_waiters_.fetch_add(1, std::memory_order_seq_cst);
    for (auto left = pending.load(std::memory_order_seq_cst); left != 0;
         left = pending.load(std::memory_order_seq_cst)) {
      pending.wait(left, std::memory_order_seq_cst);
    }
    drain_waiters_.fetch_sub(1, std::memory_order_relaxed);
  }

  // Refuses new posts, then drains or discards what is queued, then stops the
  // worker. Idempotent; called by the bus's destructor.
  void shutdown() noexcept {
    if (shutting_down_.exchange(true, std::memory_order_seq_cst)) return;
    if (on_shutdown_ == shutdown_policy::discard) discard_.store(true, std::memory_order_release);
    if (worker_.joinable()) {
      // The worker empties the queue; we wait for the count, then wake it to stop.
      drain_waiters_.fetch_add(1, std::memory_order_seq_cst);
      for (auto& pending : pending_) {
        for (auto left = pending.load(std::memory_order_seq_cst); left != 0;
             left = pending.load(std::memory_order_seq_cst)) {
          pending.wait(left, std::memory_order_seq_cst);
        }
      }
      stop_.store(true, std::memory_order_release);
      queue_.enqueue(item());
      worker_.join();
    } else {
      std::lock_guard lock(run_mutex_);
      std::array<item, batch_size> batch;
      while (const std::size_t count = queue_.try_dequeue_bulk(consumer_, batch.begin(), batch_size)) {
        deliver(batch.data(), count);
      }
    }
    if (const auto dropped = discarded_.load(std::memory_order_relaxed); dropped != 0) {
      report({}, std::make_exception_ptr(error(
                     errc::bus_shutting_down,
                     fmt::format("discarded {} posted event(s) at shutdown", dropped))));
    }
  }

 private:
  void start_worker_once() {
    std::call_once(worker_started_, [this] { worker_ = std::thread([this] { run_worker(); }); });
  }

  void run_worker() {
    runner_.store(std::this_thread::get_id(), std::memory_order_relaxed);
    std::array<item, batch_size> batch;
    while (!stop_.load(std::memory_order_acquire)) {
      const std::size_t count = queue_.wait_dequeue_bulk(consumer_, batch.begin(), batch_size);
      deliver(batch.data(), count);
    }
  }

  // Delivers (or discards) count items, settles their pending counts, and
  // returns how many were events rather than wake-up markers.
  std::size_t deliver(item* items, std::size_t count) {
    std::array<std::int64_t, 2> settled{0, 0};
    for (std::size_t i = 0; i < count; ++i) {
      item& current = items[i];
      if (current.is_marker()) continue;
      if (discard_.load(std::memory_order_relaxed)) {
        discarded_.fetch_add(1, std::memory_order_relaxed);
      } else {
        try {
          current.deliver(target_);
        } catch (...) {
          report(current.type_name(), std::current_exception());
        }
      }
      ++settled[current.epoch()];
      current.reset();
    }
    settle(0, settled[0]);
    settle(1, settled[1]);
    return static_cast<std::size_t>(settled[0] + settled[1]);
  }

  void settle(unsigned epoch, std::int64_t count) {
    if (count == 0) return;
    auto& pending = pending_[epoch];
    const auto left = pending.fetch_sub(count, std::memory_order_seq_cst) - count;
    if (left == 0 && drain_waiters_.load(std::memory_order_seq_cst) != 0) pending.notify_all();
  }

  void report(std::string_view event_type, std::exception_ptr exception) noexcept {
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

  moodycamel::BlockingConcurrentQueue<item> queue_;
  moodycamel::ConsumerToken consumer_{queue_};  // used only by the runner
  std::array<std::atomic<std::int64_t>, 2> pending_{};
  std::atomic<unsigned> epoch_{0};
  std::atomic<int> drain_waiters_{0};
  std::atomic<bool> shutting_down_{false};
  std::atomic<bool> discard_{false};
  std::atomic<bool> stop_{false};
  std::atomic<std::size_t> discarded_{0};
  std::atomic<std::thread::id> runner_{};

  std::mutex drain_mutex_;
  std::mutex run_mutex_;
  std::once_flag worker_started_;
  std::thread worker_;
};

}  // namespace detail
}  // namespace v1
}  // namespace courier
