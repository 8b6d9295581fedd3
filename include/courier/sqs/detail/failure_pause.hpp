// How long a polling loop (a consumer, a bus feed, a receipt inbox) waits
// before it polls again after a failed receive: the AWS core has already
// retried with backoff, and a server that stays down must not be asked in a
// tight loop (nor fill stderr a line at a time). The pause doubles from
// first to cap while receives keep failing and starts again at first after
// one succeeds. It ends early when stop becomes true. Not thread-safe: one
// per polling thread.
#pragma once

#include <algorithm>
#include <atomic>
#include <chrono>
#include <functional>
#include <thread>

namespace courier {
inline namespace v1 {
namespace sqs {
namespace detail {

class failure_pause {
 public:
  using sleeper = std::function<void(std::chrono::milliseconds)>;

  explicit failure_pause(std::chrono::milliseconds first = std::chrono::milliseconds(100),
                         std::chrono::milliseconds cap = std::chrono::seconds(5), sleeper sleep = {})
      : first_(first), cap_(cap), next_(first), sleep_(std::move(sleep)) {
    if (!sleep_) sleep_ = [](std::chrono::milliseconds slice) { std::this_thread::sleep_for(slice); };
  }

  // After a failed receive: waits the current pause (in slices of at most
  // 50 ms, so stop is noticed soon), then doubles it up to cap. Returns the
  // pause it took.
  std::chrono::milliseconds after_failure(const std::atomic<bool>& stop) {
    const auto pause = next_;
    for (auto left = pause; left.count() > 0 && !stop.load(std::memory_order_acquire);) {
      const auto slice = std::min(left, std::chrono::milliseconds(50));
      sleep_(slice);
      left -= slice;
    }
    next_ = std::min(next_ * 2, cap_);
    return pause;
  }

  // After a receive that worked: the next failure pauses first again.
  void after_success() noexcept { next_ = first_; }

 private:
  std::chrono::milliseconds first_;
  std::chrono::milliseconds cap_;
  std::chrono::milliseconds next_;
  sleeper sleep_;
};

}  // namespace detail
}  // namespace sqs
}  // namespace v1
}  // namespace courier
