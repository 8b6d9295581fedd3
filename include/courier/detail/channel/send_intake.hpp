// Where a channel's plain sends wait, under a lock of their own, until the
// next call that holds the channel's lock moves them into the engine.
//
// Why: with one lock for everything, a producer and a consumer on two cores
// hand the channel's lock and all of its state back and forth for every
// message (courier_channel_bench: each side spent most of its time waiting
// for the other's critical section). A send that needs nothing from the
// channel's state to be answered (no idempotency key, no delay, no delivery
// receipt, not durable) only has to be numbered, counted against the
// capacity and queued; that is all it does here. The consumer's next call
// takes every queued send in one step and does their bookkeeping itself,
// so the two sides share one short lock and the cache lines of the queue,
// not the engine's.
//
// The intake also numbers every message the channel queues (ids and
// sequences, in the order the engine receives them) and keeps the count
// the capacity is checked against: the engine's messages as of the last
// take, plus every message admitted since. A settle does not lower the
// count until the next take, so the count errs high (a producer may take
// the slow path a little early), never low.
//
// Wake-ups: a receiver that is about to sleep, or an Asio receive that
// parks, is counted in receivers_waiting (kept by the channel under its
// lock) and then looks at the intake once more (is_empty). A send that
// finds a receiver waiting tells its caller, who takes the channel's lock
// and moves the intake in, which wakes the receiver as any send would.
// Both looks happen under this lock, so one of the two always sees the
// other. Spinning receivers watch pushes().
//
// Thread-safe: every member takes the intake's lock; every member but push,
// is_closed and start is called with the channel's lock held, and goes
// before the producers waiting for the intake's.
#pragma once

#include "courier/clock.hpp"
#include "courier/detail/spin_then_block.hpp"

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <mutex>
#include <optional>
#include <utility>
#include <vector>

namespace courier {
inline namespace v1 {
namespace detail {

// An id and a sequence number, handed out together in queue order.
struct message_numbers {
  std::uint64_t id = 0;
  std::uint64_t sequence = 0;
};

template <class Message>
class send_intake {
 public:
  struct queued {
    Message message;
    clock::time_point read;  // the sender's clock reading
    message_numbers numbers;
  };

  // What a push did.
  enum class pushed {
    queued,         // numbered and queued: the send is done
    queued_wake,    // queued, and a receiver waits: move the intake in under the channel's lock
    refused,        // closed, or no room: take the slow path
  };

  explicit send_intake(std::size_t capacity) : capacity_(capacity) {}

  // After the engine recovered a durable channel's state: numbering goes on
  // from there, and the recovered messages count against the capacity.
  void start(message_numbers last, std::size_t engine_size) {
    const std::lock_guard lock(mutex_);
    last_ = last;
    occupied_ = engine_size;
  }

  // Queues message, numbered (numbers: what it got), if the intake is open
  // and the channel has room.
  pushed push(Message&& message, clock::time_point read, const std::atomic<int>& receivers_waiting,
              message_numbers& numbers) {
    const std::lock_guard lock(mutex_);
    if (closed_ || occupied_ >= capacity_) return pushed::refused;
    queue_.push_back(queued{std::move(message), read, {}});
    ++occupied_;
    numbers = next_numbers();
    queue_.back().numbers = numbers;
    pushes_.store(pushes_.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
    return receivers_waiting.load(std::memory_order_relaxed) > 0 ? pushed::queued_wake : pushed::queued;
  }

  // Under the channel's lock: moves every queued send to the back of out,
  // in order, and recounts (engine_size: the engine's messages now).
  // close: refuse every later push.
  void take(std::vector<queued>& out, std::size_t engine_size, bool close = false) {
    const auto lock = lock_ahead();
    take_locked(out, engine_size);
    if (close) closed_ = true;
  }

  // Under the channel's lock: numbers a message the channel queues itself,
  // after moving the sends queued meanwhile to out (they go first). With
  // check_room, only if the channel has room (a send); without, always (a
  // dead letter, a redrive: they never wait).
  std::optional<message_numbers> admit(std::vector<queued>& out, std::size_t engine_size, bool check_room) {
    const auto lock = lock_ahead();
    take_locked(out, engine_size);
    if (check_room && occupied_ >= capacity_) return std::nullopt;
    ++occupied_;
    return next_numbers();
  }

  // Puts back, in front, what a take moved out but the engine could not
  // queue (it threw): nothing a sender was told is queued is lost.
  void put_back(std::vector<queued>& unqueued) {
    if (unqueued.empty()) return;
    const auto lock = lock_ahead();
    for (auto& item : queue_) unqueued.push_back(std::move(item));
    queue_.swap(unqueued);
    unqueued.clear();
  }

  // Whether nothing is queued: a receiver's last look before it sleeps.
  bool is_empty() const {
    const auto lock = lock_ahead();
    return queue_.empty();
  }

  // Whether a closing take refused every later push (a sender's look).
  bool is_closed() const {
    const std::lock_guard lock(mutex_);
    return closed_;
  }

  // Changes with every push. Read without the lock, by spinning receivers.
  std::uint64_t pushes() const noexcept { return pushes_.load(std::memory_order_relaxed); }

 private:
  void take_locked(std::vector<queued>& out, std::size_t engine_size) {
    occupied_ = engine_size + out.size() + queue_.size();
    if (queue_.empty()) return;
    if (out.empty()) {
      out.swap(queue_);  // the usual case: no copy, and the two buffers trade places
    } else {
      for (auto& item : queue_) out.push_back(std::move(item));
      queue_.clear();
    }
  }

  message_numbers next_numbers() noexcept { return {++last_.id, ++last_.sequence}; }

  // For the holder of the channel's lock (one at a time): it goes before
  // the producers waiting to push (see short_spin_lock::lock_ahead).
  std::unique_lock<short_spin_lock> lock_ahead() const noexcept {
    mutex_.lock_ahead();
    return std::unique_lock(mutex_, std::adopt_lock);
  }

  // The producers' line (the lock and what it guards) apart from the
  // channel's other state, and pushes_ apart from both: receivers spin on
  // it, and a spinning read must not pull the lock's line away from the
  // producer about to take it. 128: Intel's adjacent-line prefetcher
  // pairs 64-byte lines.
  alignas(128) mutable short_spin_lock mutex_;
  std::vector<queued> queue_;
  message_numbers last_;
  std::size_t occupied_ = 0;
  const std::size_t capacity_;
  bool closed_ = false;
  // Last, and aligned: the rest of its 128 bytes is the class's tail
  // padding, so nothing of the channel's shares its line.
  alignas(128) std::atomic<std::uint64_t> pushes_{0};
};

}  // namespace detail
}  // namespace v1
}  // namespace courier
