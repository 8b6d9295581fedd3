// The callers blocked on a channel: receivers waiting for a message,
// senders waiting for room, and the destructor waiting for both to leave.
//
// Every member but ready_signal() and receivers_waiting() is called with
// the channel's lock held (the condition variables wait on it). The engine
// only counts what it did (channel_engine::progress); catch_up() turns new
// progress into wake-ups, notifying only when someone sleeps: a notify
// costs a system call. Asio
// operations park here too (parked_operations.hpp) and are woken by the
// same progress.
// Receivers that spin before they sleep watch ready_signal() without the
// lock.
#pragma once

#include "courier/detail/channel/parked_operations.hpp"
#include "courier/detail/spin_then_block.hpp"

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <mutex>

namespace courier {
inline namespace v1 {
namespace detail {

class channel_waiters {
 public:
  using lock_type = std::unique_lock<spin_mutex>;

  // Wakes receivers for messages made ready and senders for messages
  // settled since the last call (the counts only grow).
  void catch_up(std::uint64_t readied, std::uint64_t settled) {
    if (readied != readied_seen_) {
      notify(ready_cv_, sleeping_receivers_, readied - readied_seen_);
      if (!parked_receivers_.empty()) {
        parked_receivers_.wake(readied - readied_seen_);
        publish_waiting();
      }
      readied_seen_ = readied;
      signal();
    }
    if (settled != settled_seen_) {
      notify(space_cv_, sleeping_senders_, settled - settled_seen_);
      if (!parked_senders_.empty()) parked_senders_.wake(settled - settled_seen_);
      settled_seen_ = settled;
    }
  }

  template <class Progress>
  void catch_up(const Progress& progress) {
    catch_up(progress.readied, progress.settled);
  }

  // Every receiver looks again (a consumer is stopping).
  void wake_receivers() {
    signal();
    ready_cv_.notify_all();
  }

  // The channel closed: everyone blocked wakes, and the destructor may wait.
  void close() {
    closed_ = true;
    signal();
    ready_cv_.notify_all();
    space_cv_.notify_all();
    parked_receivers_.wake_all();
    parked_senders_.wake_all();
    publish_waiting();
  }

  // Asio receives waiting for a message and sends waiting for room.
  parked_operations& parked_receivers() noexcept { return parked_receivers_; }
  parked_operations& parked_senders() noexcept { return parked_senders_; }

  // Changes whenever receivers should look again. Read without the lock.
  std::uint64_t ready_signal() const noexcept { return ready_signal_.load(std::memory_order_relaxed); }

  // Sleeps until woken or until, unless nothing_new() (the receiver's last
  // look, taken once it is counted as waiting) says something came.
  template <class NothingNew>
  void sleep_receiver(lock_type& lock, std::chrono::steady_clock::time_point until, NothingNew&& nothing_new) {
    {
      const blocked_scope blocked(*this, sleeping_receivers_);
      publish_waiting();
      if (nothing_new()) ready_cv_.wait_until(lock, until);
    }
    publish_waiting();
  }

  // Receivers sleeping or parked, for the channel's send_intake: a plain
  // send that finds one waiting wakes it through the channel's lock.
  // Written under the lock (publish_waiting, after every change), read
  // under the intake's.
  const std::atomic<int>& receivers_waiting() const noexcept { return receivers_waiting_; }
  void publish_waiting() noexcept {
    receivers_waiting_.store(sleeping_receivers_ + static_cast<int>(parked_receivers_.size()),
                             std::memory_order_relaxed);
  }

  void sleep_sender(lock_type& lock, std::chrono::steady_clock::time_point until) {
    const blocked_scope blocked(*this, sleeping_senders_);
    space_cv_.wait_until(lock, until);
  }

  // After close(): returns once every caller woken has left.
  void wait_until_all_left(lock_type& lock) {
    left_cv_.wait(lock, [this] { return blocked_ == 0; });
  }

 private:
  // Counts a caller blocked on a condition variable, so the destructor can
  // wait until it has left, and the sleepers a notify is worth its cost for.
  struct blocked_scope {
    blocked_scope(channel_waiters& owner, int& sleeping) : owner(owner), sleeping(sleeping) {
      ++owner.blocked_;
      ++sleeping;
    }
    ~blocked_scope() {
      --sleeping;
      if (--owner.blocked_ == 0 && owner.closed_) owner.left_cv_.notify_all();
    }
    blocked_scope(const blocked_scope&) = delete;
    blocked_scope& operator=(const blocked_scope&) = delete;
    channel_waiters& owner;
    int& sleeping;
  };

  static void notify(std::condition_variable_any& cv, int sleeping, std::uint64_t events) {
    if (sleeping == 0) return;
    if (events == 1) {
      cv.notify_one();
    } else {
      cv.notify_all();
    }
  }

  void signal() noexcept {
    ready_signal_.store(ready_signal_.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
  }

  // Waits are rare (a receiver sleeps only after spinning, a sender only
  // when the channel is full), so condition_variable_any's extra cost over
  // std::condition_variable does not matter here.
  std::condition_variable_any ready_cv_;  // a message may have become ready
  std::condition_variable_any space_cv_;  // a message was settled
  std::condition_variable_any left_cv_;   // a blocked caller left (the destructor waits)
  parked_operations parked_receivers_;
  parked_operations parked_senders_;
  int sleeping_receivers_ = 0;
  int sleeping_senders_ = 0;
  int blocked_ = 0;
  bool closed_ = false;
  std::uint64_t readied_seen_ = 0;
  std::uint64_t settled_seen_ = 0;
  // Each on a line of its own: receivers spin on ready_signal_, producers
  // read receivers_waiting_ on every plain send (see send_intake.hpp). The
  // last one's line is the rest of the class's (128-byte aligned) tail
  // padding.
  alignas(128) std::atomic<std::uint64_t> ready_signal_{0};
  alignas(128) std::atomic<int> receivers_waiting_{0};
};

// Wakes, as its scope ends (also by an exception), whoever the engine's
// progress in that scope concerns. Declare it after the lock, so it runs
// under the lock.
template <class Engine>
class wake_on_exit {
 public:
  wake_on_exit(channel_waiters& waiters, const Engine& engine) : waiters_(waiters), engine_(engine) {}
  ~wake_on_exit() { waiters_.catch_up(engine_.progress_so_far()); }
  wake_on_exit(const wake_on_exit&) = delete;
  wake_on_exit& operator=(const wake_on_exit&) = delete;

 private:
  channel_waiters& waiters_;
  const Engine& engine_;
};

}  // namespace detail
}  // namespace v1
}  // namespace courier
