// channel_anchor: shared by the Asio operations of courier::channel and
// sqs::channel.
#pragma once

#include <atomic>
#include <cstdint>
#include <thread>

namespace courier {
inline namespace v1 {
namespace detail {

// Lets an asynchronous operation that outlives its channel find out that
// it did: the channel holds it by shared_ptr, every operation holds a copy
// and enters before it touches the channel. Entering is one atomic add; the
// channel's destructor waits until nobody is inside (calls inside never
// block).
class channel_anchor {
 public:
  // True when the channel is alive: the caller may use it until leave().
  bool enter() noexcept {
    if (inside_.fetch_add(1, std::memory_order_acquire) & gone_bit) {
      inside_.fetch_sub(1, std::memory_order_release);
      return false;
    }
    return true;
  }
  void leave() noexcept { inside_.fetch_sub(1, std::memory_order_release); }

  // The channel is going away: later enter() calls fail; returns once the
  // callers inside have left.
  void abandon() noexcept {
    inside_.fetch_or(gone_bit, std::memory_order_acq_rel);
    while ((inside_.load(std::memory_order_acquire) & ~gone_bit) != 0) std::this_thread::yield();
  }

 private:
  static constexpr std::uint64_t gone_bit = std::uint64_t{1} << 63;
  std::atomic<std::uint64_t> inside_{0};
};

}  // namespace detail
}  // namespace v1
}  // namespace courier
