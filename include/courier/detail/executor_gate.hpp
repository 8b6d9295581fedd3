// The queue between a bus and an observer that runs on an executor
// (subscribe_options::executor).
//
// publish() enqueues a call (the observer with a copy of the event); the
// first call into an empty queue schedules one drain on the executor, which
// runs the queued calls one after another, so the observer sees them in
// enqueue order and never twice at once, whatever the executor's threads.
// A drain gives the executor back after a batch, so one busy observer does
// not hold a shared thread forever. close() is the disconnect: it drops what
// is queued and, unless called from inside the observer, waits for a
// running call to return. The executor is called without the lock held.
#pragma once

#include "courier/detail/publish_scope.hpp"
#include "courier/observer_executor.hpp"

#include <condition_variable>
#include <cstddef>
#include <deque>
#include <exception>
#include <functional>
#include <memory>
#include <mutex>
#include <utility>

namespace courier {
inline namespace v1 {
namespace detail {

class executor_gate : public std::enable_shared_from_this<executor_gate> {
 public:
  using call = std::function<void()>;
  using error_sink = std::function<void(std::exception_ptr)>;

  executor_gate(observer_executor executor, error_sink on_error)
      : executor_(std::move(executor)), on_error_(std::move(on_error)) {}

  // Queues work for the observer; nothing once closed. Thread-safe.
  void enqueue(call work) {
    {
      std::lock_guard lock(mutex_);
      if (closed_) return;
      pending_.push_back(std::move(work));
      if (scheduled_) return;
      scheduled_ = true;
    }
    schedule();
  }

  // No call starts after this; queued ones are dropped. With wait, returns
  // once a call running now has returned. Thread-safe.
  void close(bool wait) {
    std::deque<call> dropped;  // destroyed after the lock: an event's destructor may do anything
    std::unique_lock lock(mutex_);
    closed_ = true;
    dropped.swap(pending_);
    if (wait) idle_.wait(lock, [this] { return !running_; });
  }

 private:
  // Calls one drain runs before it gives the executor back.
  static constexpr std::size_t batch = 64;

  void schedule() {
    executor_.execute([self = shared_from_this()] { self->drain(); });
  }

  void drain() {
    // Marks this thread as inside a publish: a disconnect() from inside the
    // observer must not wait for the call it is part of.
    const publish_scope inside;
    for (std::size_t done = 0;; ++done) {
      call next;
      {
        std::lock_guard lock(mutex_);
        if (closed_ || pending_.empty()) {
          scheduled_ = false;
          return;
        }
        if (done == batch) break;  // still scheduled: the next drain goes on
        next = std::move(pending_.front());
        pending_.pop_front();
        running_ = true;
      }
      try {
        next();
      } catch (...) {
        if (on_error_) on_error_(std::current_exception());
      }
      next = nullptr;  // the event copy goes before the call counts as over
      {
        std::lock_guard lock(mutex_);
        running_ = false;
      }
      idle_.notify_all();
    }
    schedule();
  }

  const observer_executor executor_;
  const error_sink on_error_;
  std::mutex mutex_;
  std::condition_variable idle_;
  std::deque<call> pending_;
  bool scheduled_ = false;  // a drain is queued on the executor or running
  bool running_ = false;    // a call is running now
  bool closed_ = false;
};

}  // namespace detail
}  // namespace v1
}  // namespace courier
