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
// Entries are what crosses from the producers' cores to the consumer's, a
// cache line at a time, so they stay small: the message, the sender's clock
// reading and its numbers. What few sends carry besides (Extras: in a
// channel, a group or a trace) waits apart, in a vector beside the entries,
// and an entry says where its extras are. With a 16-byte message an entry
// is 48 bytes instead of 96, and a send without extras writes half the
// lines (bench/README.md, "Half the lines per send").
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

// Extras must be default-constructible and say whether it is empty().
template <class Message, class Extras>
class send_intake {
 public:
  static constexpr std::size_t no_extras = ~std::size_t{0};

  struct queued {
    Message message;
    clock::time_point read;  // the sender's clock reading
    message_numbers numbers;
    std::size_t extras = no_extras;  // where its extras are in the batch's extras, if it has any
  };

  // Sends in order, and apart, the extras of those that have any. What a
  // take moves out and a put_back returns.
  struct batch {
    std::vector<queued> items;
    std::vector<Extras> extras;

    // item's extras, or none (an empty Extras of the caller's) when it has
    // none. A reference, so that the caller moves from it only once what
    // takes the extras can no longer throw.
    Extras& extras_of(const queued& item, Extras& none) noexcept {
      return item.extras == no_extras ? none : extras[item.extras];
    }

    void clear() noexcept {
      items.clear();
      extras.clear();
    }
  };

  // What a push did.
  enum class pushed {
    queued,       // numbered and queued: the send is done
    queued_wake,  // queued, and a receiver waits: move the intake in under the channel's lock
    refused,      // closed, or no room: take the slow path
  };

  explicit send_intake(std::size_t capacity) : capacity_(capacity) {}

  // After the engine recovered a durable channel's state: numbering goes on
  // from there, and the recovered messages count against the capacity.
  void start(message_numbers last, std::size_t engine_size) {
    const std::lock_guard lock(mutex_);
    last_ = last;
    occupied_ = engine_size;
  }

  // Queues message and its extras, numbered (numbers: what it got), if the
  // intake is open and the channel has room; refused, neither is moved from.
  pushed push(Message&& message, Extras&& extras, clock::time_point read,
              const std::atomic<int>& receivers_waiting, message_numbers& numbers) {
    const std::lock_guard lock(mutex_);
    if (closed_ || occupied_ >= capacity_) return pushed::refused;
    std::size_t extras_at = no_extras;
    if (!extras.empty()) [[unlikely]] {
      extras_at = queue_.extras.size();
      queue_.extras.push_back(std::move(extras));
    }
    queue_.items.push_back(queued{std::move(message), read, {}, extras_at});
    ++occupied_;
    numbers = next_numbers();
    queue_.items.back().numbers = numbers;
    pushes_.store(pushes_.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
    return receivers_waiting.load(std::memory_order_relaxed) > 0 ? pushed::queued_wake : pushed::queued;
  }

  // Under the channel's lock: moves every queued send to the back of out,
  // in order, and recounts (engine_size: the engine's messages now).
  // close: refuse every later push.
  void take(batch& out, std::size_t engine_size, bool close = false) {
    const auto lock = lock_ahead();
    take_locked(out, engine_size);
    if (close) closed_ = true;
  }

  // As take(), but moves no more than max sends: the rest stay queued here,
  // first in line. For a receiver that hands sends straight out: what it
  // cannot hand out now waits here for the next receive, rather than in
  // the engine, where it would send every later receive the long way
  // until the engine drained.
  void take_up_to(batch& out, std::size_t max, std::size_t engine_size) {
    const auto lock = lock_ahead();
    if (queue_.items.size() - head_ <= max) {
      take_locked(out, engine_size);
      return;
    }
    occupied_ = engine_size + out.items.size() + (queue_.items.size() - head_);
    const std::size_t end = head_ + max;
    for (; head_ < end; ++head_) {
      queued& item = queue_.items[head_];
      if (item.extras != no_extras) {
        out.extras.push_back(std::move(queue_.extras[item.extras]));
        item.extras = out.extras.size() - 1;
      }
      out.items.push_back(std::move(item));
    }
    // Sends taken from the front are dead weight until the queue empties;
    // drop them once they are half of it, so a queue that never empties
    // does not grow without bound.
    if (head_ * 2 > queue_.items.size()) compact();
  }

  // Under the channel's lock: numbers a message the channel queues itself,
  // after moving the sends queued meanwhile to out (they go first). With
  // check_room, only if the channel has room (a send); without, always (a
  // dead letter, a redrive: they never wait).
  std::optional<message_numbers> admit(batch& out, std::size_t engine_size, bool check_room) {
    const auto lock = lock_ahead();
    take_locked(out, engine_size);
    if (check_room && occupied_ >= capacity_) return std::nullopt;
    ++occupied_;
    return next_numbers();
  }

  // Puts back, in front, what a take moved out but the engine could not
  // queue (it threw): nothing a sender was told is queued is lost.
  void put_back(batch& unqueued) {
    if (unqueued.items.empty()) {
      unqueued.clear();
      return;
    }
    const auto lock = lock_ahead();
    append(unqueued, queue_, head_);
    head_ = 0;
    std::swap(queue_, unqueued);
    unqueued.clear();
  }

  // Whether nothing is queued: a receiver's last look before it sleeps.
  bool is_empty() const {
    const auto lock = lock_ahead();
    return queue_.items.size() == head_;
  }

  // Whether a closing take refused every later push (a sender's look).
  bool is_closed() const {
    const std::lock_guard lock(mutex_);
    return closed_;
  }

  // Changes with every push. Read without the lock, by spinning receivers.
  std::uint64_t pushes() const noexcept { return pushes_.load(std::memory_order_relaxed); }

 private:
  void take_locked(batch& out, std::size_t engine_size) {
    occupied_ = engine_size + out.items.size() + (queue_.items.size() - head_);
    if (out.items.empty() && head_ == 0) {
      // The usual case: no copy, and the buffers trade places.
      if (queue_.items.empty()) return;
      out.extras.clear();
      out.items.swap(queue_.items);
      out.extras.swap(queue_.extras);
    } else {
      append(out, queue_, head_);
      head_ = 0;
    }
  }

  // Moves the sends of from after its first `from_first` (taken already) to
  // the back of to, their extras renumbered, and empties from.
  static void append(batch& to, batch& from, std::size_t from_first = 0) {
    for (std::size_t at = from_first; at < from.items.size(); ++at) {
      queued& item = from.items[at];
      if (item.extras != no_extras) {
        to.extras.push_back(std::move(from.extras[item.extras]));
        item.extras = to.extras.size() - 1;
      }
      to.items.push_back(std::move(item));
    }
    from.clear();
  }

  // Drops the sends take_up_to took from the front, and the extras only
  // they had.
  void compact() {
    batch rest;
    rest.items.reserve(queue_.items.size() - head_);
    append(rest, queue_, head_);
    head_ = 0;
    std::swap(queue_, rest);
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
  batch queue_;
  std::size_t head_ = 0;  // the sends before it in queue_ were taken (take_up_to)
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
