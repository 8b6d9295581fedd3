// detail::set_once<V>: a value set once, that threads can wait for and
// callbacks can be told of.
//
// What std::promise + std::shared_future give, plus what they cannot: a
// callback when the value is set, and taking that callback back. A delivery
// receipt needs both for async_wait (a completion handler posted when the
// outcome is known, and unregistered when the wait is cancelled), without
// a thread parked on a future. Callbacks run on the thread that sets the
// value, after the lock is let go, so they may post work but should not
// block.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <optional>
#include <utility>
#include <vector>

namespace courier {
inline namespace v1 {
namespace detail {

template <class Value>
class set_once {
 public:
  using callback = std::function<void(const Value&)>;

  // Sets the value unless it was set before, and calls every callback
  // registered. Returns whether this call set it. Thread-safe.
  bool set(Value value) {
    std::vector<std::pair<std::uint64_t, callback>> told;
    {
      std::lock_guard lock(mutex_);
      if (value_) return false;
      value_.emplace(std::move(value));
      told.swap(callbacks_);
    }
    changed_.notify_all();
    for (auto& [ticket, then] : told) then(*value_);  // value_ never changes again: no lock needed
    return true;
  }

  // The value if set; never blocks. Thread-safe.
  std::optional<Value> peek() const {
    std::lock_guard lock(mutex_);
    return value_;
  }

  // Blocks until the value is set. Thread-safe.
  Value wait() const {
    std::unique_lock lock(mutex_);
    changed_.wait(lock, [this] { return value_.has_value(); });
    return *value_;
  }

  // The value if it is set within timeout. Thread-safe.
  template <class Rep, class Period>
  std::optional<Value> wait_for(std::chrono::duration<Rep, Period> timeout) const {
    std::unique_lock lock(mutex_);
    changed_.wait_for(lock, timeout, [this] { return value_.has_value(); });
    return value_;
  }

  // Calls then(value) once the value is set: at once, on this thread, if it
  // is (and returns 0), else on the thread that sets it (and returns a
  // ticket for forget()). Thread-safe.
  std::uint64_t when_set(callback then) {
    std::unique_lock lock(mutex_);
    if (!value_) {
      const std::uint64_t ticket = ++last_ticket_;
      callbacks_.emplace_back(ticket, std::move(then));
      return ticket;
    }
    lock.unlock();
    then(*value_);
    return 0;
  }

  // Takes back the callback of ticket. Returns true when it was still
  // waiting (it will never be called), false when it was called or is being
  // called. Thread-safe.
  bool forget(std::uint64_t ticket) {
    std::lock_guard lock(mutex_);
    for (auto it = callbacks_.begin(); it != callbacks_.end(); ++it) {
      if (it->first == ticket) {
        callbacks_.erase(it);
        return true;
      }
    }
    return false;
  }

 private:
  mutable std::mutex mutex_;
  mutable std::condition_variable changed_;
  std::optional<Value> value_;
  std::vector<std::pair<std::uint64_t, callback>> callbacks_;
  std::uint64_t last_ticket_ = 0;
};

}  // namespace detail
}  // namespace v1
}  // namespace courier
