// What a WebSocket server counts across its connections, and a signal for
// whoever waits for a count to change (server::wait_for_stats, stop()).
//
// Waiting is event-driven: every change notifies, but a notify costs a
// mutex and a wake-up only while someone waits; otherwise it is one atomic
// load. No lost wake-up: a change is made before notify() reads waiters_
// and bumps version_; a waiter counts itself in and reads version_ before
// it checks its condition (all sequentially consistent), so either its
// check sees the change or its wait sees the new version.
#pragma once

#include "courier/ws/error_codes.hpp"

#include <array>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <mutex>
#include <string_view>

namespace courier {
inline namespace v1 {
namespace ws::detail {

class change_signal {
 public:
  void notify() {
    if (waiters_.load() == 0) return;
    {
      const std::lock_guard lock(mutex_);
      version_.fetch_add(1);
    }
    changed_.notify_all();
  }

  // Waits until condition() holds, or timeout passes; whether it held.
  // condition() runs without this signal's mutex, so it may take any lock
  // (and notify() may be called with any lock held).
  template <class Condition>
  bool wait(Condition condition, std::chrono::steady_clock::duration timeout) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    waiters_.fetch_add(1);
    bool held = false;
    for (;;) {
      const std::uint64_t seen = version_.load();  // before the check: a change after it is noticed
      held = condition();
      if (held) break;
      std::unique_lock lock(mutex_);
      if (!changed_.wait_until(lock, deadline, [&] { return version_.load() != seen; })) {
        lock.unlock();
        held = condition();
        break;
      }
    }
    waiters_.fetch_sub(1);
    return held;
  }

  // Calls notify() when the scope ends: declared before a lock, it runs
  // after the lock is let go.
  struct on_exit {
    explicit on_exit(change_signal& signal) : signal(signal) {}
    ~on_exit() { signal.notify(); }
    on_exit(const on_exit&) = delete;
    on_exit& operator=(const on_exit&) = delete;
    change_signal& signal;
  };

 private:
  std::atomic<int> waiters_{0};
  std::atomic<std::uint64_t> version_{0};
  std::mutex mutex_;
  std::condition_variable changed_;
};

struct server_counters {
  std::atomic<std::size_t> connections{0};
  std::atomic<std::uint64_t> frames_refused{0};  // error frames sent for bad input
  // Every error frame sent, by code (error_code's value; unknown codes as internal_error).
  std::array<std::atomic<std::uint64_t>, ws::detail::error_table.size()> error_frames{};
  change_signal changed;  // also told by the hub (sessions, unacked, events sent)

  void connection_opened() {
    connections.fetch_add(1);
    changed.notify();
  }
  void connection_closed() {
    connections.fetch_sub(1);
    changed.notify();
  }
  void frame_refused(std::string_view code) {
    frames_refused.fetch_add(1);
    const auto known = error_code_named(code).value_or(error_code::internal_error);
    error_frames[static_cast<std::size_t>(known)].fetch_add(1, std::memory_order_relaxed);
    changed.notify();
  }
};

}  // namespace ws::detail
}  // namespace v1
}  // namespace courier
