// courier::observer_executor: where an observer runs, when not on the
// publishing thread.
//
// subscribe<E>(handler, {.executor = ex}) makes the bus hand each event (a
// copy) to ex instead of calling the handler inside publish(): the observer
// runs on the receiver's thread or event loop, as Qt's queued connections
// do. The type is a small type-erased "post this job" function, so the core
// needs no Asio: courier::on(asio_executor) in <courier/asio.hpp> makes one
// from any Asio executor (an io_context's, a strand), and anything else that
// can run a std::function later (a GUI loop, a thread pool) fits in a line.
//
// What the bus then promises (see detail/executor_gate.hpp for how):
// - Order: the observer sees events in the order they were handed to it,
//   which keeps each publishing thread's order; it never runs twice at once,
//   even on an executor with many threads.
// - The disconnect rule holds: once subscription::disconnect() returns
//   (called from outside the observer), the observer is not running and
//   will not run; events still queued for it are dropped.
// - An exception the observer throws goes to the bus's error handler.
#pragma once

#include <functional>
#include <utility>

namespace courier {
inline namespace v1 {

class observer_executor {
 public:
  using job = std::function<void()>;

  // No executor: the observer runs inside publish(), on the publishing thread.
  observer_executor() = default;

  // post(job) must arrange for job() to run later, on another thread or
  // after the caller returns, never inside the call to post itself (the bus
  // calls it inside publish(), with the observer's queue locked).
  explicit observer_executor(std::function<void(job)> post) : post_(std::move(post)) {}

  explicit operator bool() const noexcept { return static_cast<bool>(post_); }

  // Hands job to the executor. Thread-safe if the post function is.
  void execute(job work) const { post_(std::move(work)); }

 private:
  std::function<void(job)> post_;
};

}  // namespace v1
}  // namespace courier
