// courier::testing::recorder<E>: every event of type E a bus publishes, in
// order, for a test to look at or wait for.
//
//   courier::testing::recorder<parcel_delivered> delivered(bus);
//   bus.post(parcel_delivered{42});
//   ASSERT_TRUE(delivered.wait_for(1, 1s)) << delivered.wait_for(1, 0s).message();
//
// It subscribes on construction and unsubscribes on destruction. Events are
// recorded from any thread (publish, a bus's worker, a consumer); wait_for
// sleeps on a condition variable and returns as soon as its condition
// holds, never polling, and on timeout says what it saw instead. Thread-safe.
#pragma once

#include "courier/subscription.hpp"
#include "courier/testing/describe.hpp"

#include <fmt/format.h>

#include <chrono>
#include <concepts>
#include <condition_variable>
#include <cstddef>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

namespace courier {
inline namespace v1 {
namespace testing {

// What wait_for found: true when the condition held in time; otherwise
// message() says what was recorded meanwhile.
class wait_result {
 public:
  wait_result(bool held, std::string message) : held_(held), message_(std::move(message)) {}
  explicit operator bool() const noexcept { return held_; }
  const std::string& message() const noexcept { return message_; }

 private:
  bool held_;
  std::string message_;
};

template <class Event>
class recorder {
 public:
  // Records every Event published on bus from now on (any courier bus).
  template <class Bus>
  explicit recorder(Bus& bus)
      : subscription_(bus.template subscribe<Event>([this](const Event& event) { record(event); })) {}

  recorder(const recorder&) = delete;
  recorder& operator=(const recorder&) = delete;
  ~recorder() { subscription_.disconnect(); }  // before the members it writes go

  // A copy of what was recorded so far, in order.
  std::vector<Event> events() const {
    std::lock_guard lock(mutex_);
    return events_;
  }

  std::size_t count() const {
    std::lock_guard lock(mutex_);
    return events_.size();
  }

  void clear() {
    std::lock_guard lock(mutex_);
    events_.clear();
  }

  // Waits until at least count events have been recorded.
  wait_result wait_for(std::size_t count, std::chrono::milliseconds timeout) {
    return wait_until_true([count](const std::vector<Event>& seen) { return seen.size() >= count; },
                           fmt::format("{} event(s)", count), timeout);
  }

  // Waits until condition(events so far) holds: a predicate over the whole
  // sequence, so "three deliveries of parcel 7" or "a delivered after a
  // pickup" can be waited for.
  template <std::predicate<const std::vector<Event>&> Condition>
  wait_result wait_for(Condition condition, std::chrono::milliseconds timeout) {
    return wait_until_true(std::move(condition), "the condition", timeout);
  }

  // Waits until an event satisfying predicate has been recorded.
  template <std::predicate<const Event&> Predicate>
  wait_result wait_for_event(Predicate predicate, std::chrono::milliseconds timeout) {
    return wait_until_true(
        [&predicate](const std::vector<Event>& seen) {
          for (const Event& event : seen) {
            if (predicate(event)) return true;
          }
          return false;
        },
        "a matching event", timeout);
  }

 private:
  void record(const Event& event) {
    {
      std::lock_guard lock(mutex_);
      events_.push_back(event);
    }
    recorded_.notify_all();
  }

  template <class Condition>
  wait_result wait_until_true(Condition condition, const std::string& what,
                              std::chrono::milliseconds timeout) {
    std::unique_lock lock(mutex_);
    if (recorded_.wait_for(lock, timeout, [&] { return condition(std::as_const(events_)); })) {
      return wait_result(true, {});
    }
    return wait_result(false, fmt::format("waited {} ms for {} of {}; recorded {}:\n{}", timeout.count(),
                                          what, event_name<Event>(), events_.size(), describe_all(events_)));
  }

  mutable std::mutex mutex_;
  std::condition_variable recorded_;
  std::vector<Event> events_;
  subscription subscription_;  // last: connected once the rest exists
};

}  // namespace testing
}  // namespace v1
}  // namespace courier
