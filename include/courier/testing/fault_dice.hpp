// Decides, call by call, whether a fault is injected.
//
// A test of event-driven code needs failures on purpose: the third call
// throws, one ack in a hundred is lost. fault_dice makes that decision for
// each call, reproducibly: with a seed, call number n fires or not whatever
// thread makes it and whenever it runs (the decision is a hash of the seed
// and n, not a shared generator's next draw), so a failing run replays from
// its seed. Thread-safe: the call counter is atomic.
//
//   auto third = fault_dice::nth(3);           // fires on the 3rd call only
//   auto some = fault_dice::rate(0.01, seed);  // each call fires with p = 1%
#pragma once

#include "courier/detail/mix64.hpp"

#include <atomic>
#include <cstdint>
#include <limits>
#include <memory>

namespace courier {
inline namespace v1 {
namespace testing {

class fault_dice {
 public:
  // Never fires.
  fault_dice() = default;

  // Fires on the n-th roll only (n counted from 1).
  static fault_dice nth(std::uint64_t n) { return fault_dice(kind::nth, n, 0); }

  // Fires on every n-th roll: n, 2n, 3n, ...
  static fault_dice every(std::uint64_t n) { return fault_dice(kind::every, n, 0); }

  // Fires on each roll with probability p (0 never, 1 always), decided by
  // seed and the roll's number.
  static fault_dice rate(double p, std::uint64_t seed) {
    std::uint64_t threshold = 0;
    if (p >= 1.0) {
      threshold = std::numeric_limits<std::uint64_t>::max();
    } else if (p > 0.0) {
      threshold = static_cast<std::uint64_t>(p * 18446744073709551616.0);  // p * 2^64
    }
    return fault_dice(kind::rate, threshold, seed);
  }

  // Counts a call and says whether it gets the fault. Thread-safe.
  bool roll() noexcept {
    if (!state_) return false;
    const std::uint64_t n = state_->rolls.fetch_add(1, std::memory_order_relaxed) + 1;
    bool fire = false;
    switch (state_->what) {
      case kind::nth:
        fire = n == state_->parameter;
        break;
      case kind::every:
        fire = state_->parameter != 0 && n % state_->parameter == 0;
        break;
      case kind::rate:
        fire = detail::mix64(state_->seed ^ detail::mix64(n)) < state_->parameter;
        break;
    }
    if (fire) state_->fired.fetch_add(1, std::memory_order_relaxed);
    return fire;
  }

  std::uint64_t rolls() const noexcept { return state_ ? state_->rolls.load(std::memory_order_relaxed) : 0; }
  std::uint64_t fired() const noexcept { return state_ ? state_->fired.load(std::memory_order_relaxed) : 0; }

 private:
  enum class kind { nth, every, rate };
  struct state {
    kind what;
    std::uint64_t parameter;  // n, or the rate's threshold out of 2^64
    std::uint64_t seed;
    std::atomic<std::uint64_t> rolls{0};
    std::atomic<std::uint64_t> fired{0};
  };

  fault_dice(kind what, std::uint64_t parameter, std::uint64_t seed)
      : state_(std::make_shared<state>(what, parameter, seed)) {}

  // Shared, so copies of a dice (a wrapper copied into a consumer) count
  // the same rolls.
  std::shared_ptr<state> state_;
};

}  // namespace testing
}  // namespace v1
}  // namespace courier
