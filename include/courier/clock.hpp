// The time source of channels: visibility timeouts, delays, dedup windows.
//
// Channels read time through courier::clock so that tests can drive it: with
// a manual_clock a test moves time forward by advance(31s) and sees a
// redelivery at once, without sleeping. Production code leaves the option
// empty and gets coarse_clock. Blocking waits (receive with a wait, a full
// send) still sleep in real time; they re-read the clock when they wake.
#pragma once

#include <atomic>
#include <chrono>
#include <memory>

#include <time.h>

namespace courier {
inline namespace v1 {

class clock {
 public:
  using duration = std::chrono::steady_clock::duration;
  using time_point = std::chrono::steady_clock::time_point;

  virtual ~clock() = default;
  // The current time. Thread-safe.
  virtual time_point now() const noexcept = 0;
};

// std::chrono::steady_clock: to the nanosecond. For a channel whose
// timeouts or delays must hold to better than a kernel tick.
class steady_clock final : public clock {
 public:
  time_point now() const noexcept override { return std::chrono::steady_clock::now(); }

  // A process-wide instance.
  static std::shared_ptr<const clock> shared() {
    static const auto instance = std::make_shared<const steady_clock>();
    return instance;
  }
};

// The default: the monotonic clock as of the kernel's last tick
// (CLOCK_MONOTONIC_COARSE; 1 to 10 ms apart, 4 ms on most kernels). A
// channel reads its clock on every send, receive and ack; reading the
// precise clock takes a timestamp-counter read that costs 25-30 ns in a VM,
// this one reads a value the kernel keeps (about 5 ns). The price: a
// visibility timeout, a delay or a dedup window may end up to one tick
// early or late, which nothing here depends on (SQS counts in seconds).
// Same origin as std::chrono::steady_clock (CLOCK_MONOTONIC), and never
// ahead of it, so its times compare with real deadlines. Thread-safe.
class coarse_clock final : public clock {
 public:
  time_point now() const noexcept override {
    timespec read{};
    ::clock_gettime(CLOCK_MONOTONIC_COARSE, &read);
    return time_point(std::chrono::duration_cast<duration>(std::chrono::seconds(read.tv_sec) +
                                                           std::chrono::nanoseconds(read.tv_nsec)));
  }

  // The process-wide instance channels use when given no clock.
  static std::shared_ptr<const clock> shared() {
    static const auto instance = std::make_shared<const coarse_clock>();
    return instance;
  }
};

// A clock that moves only when told to. Starts at steady_clock's now() so its
// times compare sensibly with real deadlines. Thread-safe.
class manual_clock final : public clock {
 public:
  manual_clock() noexcept : ticks_(std::chrono::steady_clock::now().time_since_epoch().count()) {}

  time_point now() const noexcept override {
    return time_point(duration(ticks_.load(std::memory_order_acquire)));
  }

  // Moves time forward by step (a negative step is ignored: time never runs
  // backwards). Thread-safe.
  void advance(duration step) noexcept {
    if (step.count() > 0) ticks_.fetch_add(step.count(), std::memory_order_acq_rel);
  }

 private:
  std::atomic<duration::rep> ticks_;
};

}  // namespace v1
}  // namespace courier
