// The rate limit of one connection (docs/protocol.md §5): a bucket of
// `rate` tokens refilled at `rate` per second; every frame takes one. Pure
// bookkeeping with the time passed in, so it is tested without waiting.
#pragma once

#include <algorithm>
#include <chrono>
#include <cstddef>

namespace courier {
inline namespace v1 {
namespace ws::detail {

class token_bucket {
 public:
  using time_point = std::chrono::steady_clock::time_point;

  // Starts full.
  token_bucket(std::size_t rate, time_point now)
      : rate_(static_cast<double>(rate)), tokens_(rate_), last_refill_(now) {}

  // Takes a token for a frame that arrived at now; false when none is left.
  bool take(time_point now) {
    tokens_ = std::min(rate_, tokens_ + std::chrono::duration<double>(now - last_refill_).count() * rate_);
    last_refill_ = now;
    if (tokens_ < 1) return false;
    tokens_ -= 1;
    return true;
  }

 private:
  double rate_;
  double tokens_;
  time_point last_refill_;
};

}  // namespace ws::detail
}  // namespace v1
}  // namespace courier
