// The asynchronous operations waiting on a channel without a thread: Asio
// async_receive calls waiting for a message, async_send calls waiting for
// room, durable sends waiting for their write.
//
// A parked operation is woken under the channel's lock, so wake() only
// schedules its next try on the operation's own executor; the try takes the
// lock again and either finishes or parks once more. A woken operation
// leaves the list, so a wake-up is never delivered twice, and an operation
// that is cancelled after being woken passes its wake-up on (see
// channel::pass_on_wake) so a ready message is not left waiting. Not
// thread-safe: the channel's lock guards it.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <memory>

namespace courier {
inline namespace v1 {
namespace detail {

class parked_operation {
 public:
  virtual ~parked_operation() = default;
  // The operation may proceed (or the channel closed, or its write was
  // decided): schedule its next try. Called under the channel's lock; must
  // not block or call into the channel.
  virtual void wake() noexcept = 0;
};

class parked_operations {
 public:
  void park(std::shared_ptr<parked_operation> operation) { parked_.push_back(std::move(operation)); }

  // Takes operation off the list. Returns false when it was not on it (it
  // was woken, or never parked): whoever woke it owns its next step.
  bool unpark(const parked_operation* operation) {
    const auto found = std::find_if(parked_.begin(), parked_.end(),
                                    [&](const auto& parked) { return parked.get() == operation; });
    if (found == parked_.end()) return false;
    parked_.erase(found);
    return true;
  }

  // Wakes up to count operations, oldest first.
  void wake(std::uint64_t count) {
    while (count-- > 0 && !parked_.empty()) {
      const std::shared_ptr<parked_operation> next = std::move(parked_.front());
      parked_.pop_front();
      next->wake();
    }
  }

  void wake_all() { wake(parked_.size()); }

  bool empty() const noexcept { return parked_.empty(); }
  std::size_t size() const noexcept { return parked_.size(); }

 private:
  std::deque<std::shared_ptr<parked_operation>> parked_;
};

}  // namespace detail
}  // namespace v1
}  // namespace courier
