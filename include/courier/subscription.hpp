// courier::subscription: the RAII handle of one observer on a bus.
//
// Move-only; destroying it disconnects the observer. The rule users rely on:
// once disconnect() returns (called from outside any observer), the observer
// is not running on any thread and will never be called again, so whatever
// it touches may be destroyed. Signals2 alone promises less (a call may start
// just after disconnect returns); courier closes that gap by waiting until
// Signals2 releases the slot, which it does only when no publish holds it,
// or, on a snapshot bus, until no publish can still be reading the observer
// (detail/observer_list.hpp). The wait costs nothing on the publish path.
#pragma once

#include "courier/detail/executor_gate.hpp"
#include "courier/detail/publish_scope.hpp"

#include <fmt/format.h>
#include <boost/signals2/connection.hpp>
#include <boost/signals2/shared_connection_block.hpp>

#include <atomic>
#include <compare>
#include <cstdint>
#include <memory>
#include <optional>
#include <utility>

namespace courier {
inline namespace v1 {

// Identifies a subscription in logs; unique within the process.
struct subscription_id {
  std::uint64_t value = 0;
  friend auto operator<=>(const subscription_id&, const subscription_id&) = default;
};

namespace detail {

// Each thread takes ids from the shared counter a block at a time: one
// locked instruction per 1024 subscribes instead of one per subscribe.
inline subscription_id next_subscription_id() noexcept {
  constexpr std::uint64_t block = 1024;
  static std::atomic<std::uint64_t> next_block{0};
  thread_local std::uint64_t next = 0;
  thread_local std::uint64_t end = 0;
  if (next == end) {
    next = next_block.fetch_add(1, std::memory_order_relaxed) * block + 1;
    end = next + block;
  }
  return {next++};
}

// Shared by a subscription and the observer list that calls it. The bus's
// two observer lists (Boost.Signals2's, and courier's own in
// detail/observer_list.hpp) each derive from it and say how to unlink the
// observer, wait until no call of it runs, block it, and whether it is linked.
struct subscription_state {
  subscription_state(std::shared_ptr<std::atomic<std::size_t>> observer_count, bool thread_safe)
      : observer_count(std::move(observer_count)), thread_safe(thread_safe) {}
  subscription_state(const subscription_state&) = delete;
  subscription_state& operator=(const subscription_state&) = delete;
  virtual ~subscription_state() = default;

  // Takes the observer out of its list and out of observer_count: no call
  // starts after this returns (one already running may go on; see
  // wait_until_unused). self is the caller's reference to this state, for a
  // list that must keep it a while. Called once.
  virtual void unlink(const std::shared_ptr<subscription_state>& self) noexcept = 0;
  // Returns once no call of the observer runs on any thread (never called
  // from inside a publish: the call waited for may be the caller's own).
  virtual void wait_until_unused() noexcept = 0;
  // False once unlinked, or once its tracked owner was found gone.
  virtual bool linked() const noexcept = 0;
  // Destroys the handler and what it captured. Called once no call of it
  // runs and none can start; a subscription kept after disconnect() then
  // keeps no capture alive (a handler holding its own object would
  // otherwise keep that object, and the object its subscription, forever).
  virtual void drop_handler() noexcept {}
  // Signals2 blocks through a shared_connection_block; courier's own list
  // reads `blocks` alone and returns an empty one.
  virtual std::optional<boost::signals2::shared_connection_block> engine_block() { return std::nullopt; }

  // The per-type count the bus reads to skip dispatch when nobody listens.
  std::shared_ptr<std::atomic<std::size_t>> observer_count;
  const subscription_id id = next_subscription_id();
  const bool thread_safe;
  std::atomic<bool> disconnected{false};
  // Live subscription_blocks; counted here so a run of posted events (and
  // courier's own list, on every call) can see a block without a lock.
  std::atomic<int> blocks{0};
  // Observers on an executor: the queue of their calls, closed on disconnect.
  std::shared_ptr<executor_gate> gate;

  // True while this observer is connected, unblocked and its type's only
  // observer: the condition for handing it a run of posted events.
  bool alone() const noexcept {
    return !disconnected.load(std::memory_order_acquire) && blocks.load(std::memory_order_acquire) == 0 &&
           observer_count->load(std::memory_order_acquire) == 1;
  }
};

// An observer in a Boost.Signals2 signal. What Signals2 stores for it is a
// slot_call (below): a pointer to this state, which holds the handler.
struct signals2_subscription_state : subscription_state {
  using subscription_state::subscription_state;

  void unlink(const std::shared_ptr<subscription_state>&) noexcept override {
    connection.disconnect();
    observer_count->fetch_sub(1, std::memory_order_release);
  }
  void wait_until_unused() noexcept override {
    // Usually released already; the load spares the wait's shared waiter counters.
    if (!released.load(std::memory_order_acquire)) released.wait(false, std::memory_order_acquire);
  }
  bool linked() const noexcept override { return connection.connected(); }
  std::optional<boost::signals2::shared_connection_block> engine_block() override {
    return std::optional<boost::signals2::shared_connection_block>(std::in_place, connection);
  }

  boost::signals2::connection connection;
  // Set when Signals2 destroyed our slot: no call is running, none will start.
  std::atomic<bool> released{false};
  // The copies of the slot that live (slot_anchor), and the reference that
  // keeps this state alive for them until the last one goes.
  std::atomic<int> slot_copies{0};
  std::shared_ptr<signals2_subscription_state> kept_by_slot;
};

// Lives in every copy of the slot Signals2 stores for a subscription (and in
// the copies it makes while connecting). When the last copy goes, Signals2
// has let go of the slot: no call is running, none will start, and
// `released` says so. Counted in the subscription's own state rather than
// shared through a pointer of its own, so that a subscribe allocates nothing
// for it; while any copy lives, the state is kept alive by kept_by_slot, a
// reference the last copy drops.
class slot_anchor {
 public:
  slot_anchor() noexcept = default;
  template <class State>  // signals2_subscription_state or derived
  explicit slot_anchor(const std::shared_ptr<State>& state) : state_(state.get()) {
    state_->kept_by_slot = state;
    state_->slot_copies.fetch_add(1, std::memory_order_release);  // publishes kept_by_slot to the last copy
  }
  slot_anchor(const slot_anchor& other) noexcept : state_(other.state_) {
    if (state_ != nullptr) state_->slot_copies.fetch_add(1, std::memory_order_relaxed);
  }
  slot_anchor(slot_anchor&& other) noexcept : state_(std::exchange(other.state_, nullptr)) {}
  slot_anchor& operator=(slot_anchor other) noexcept {
    std::swap(state_, other.state_);  // other, leaving, lets go of what this held
    return *this;
  }
  ~slot_anchor() {
    if (state_ == nullptr || state_->slot_copies.fetch_sub(1, std::memory_order_acq_rel) != 1) return;
    // The last copy: what kept the state alive for the slot ends with this scope.
    const std::shared_ptr<signals2_subscription_state> last = std::move(state_->kept_by_slot);
    last->drop_handler();  // when Signals2 would destroy a handler it held itself
    last->released.store(true, std::memory_order_release);
    last->released.notify_all();
  }

  signals2_subscription_state& state() const noexcept { return *state_; }

 private:
  signals2_subscription_state* state_ = nullptr;
};

}  // namespace detail

// While a subscription_block lives and is blocking, its observer is skipped
// (not disconnected). Blocks nest: the observer runs again once no block
// blocks it. Move-only; destroying it unblocks.
class subscription_block {
 public:
  // Blocks nothing.
  subscription_block() noexcept = default;

  // Blocks the observer of state. Thread-safe.
  explicit subscription_block(std::shared_ptr<detail::subscription_state> state) : state_(std::move(state)) {
    // Counted before Signals2 blocks, uncounted after it unblocks, so the
    // counter never says "unblocked" while Signals2 would skip the observer.
    state_->blocks.fetch_add(1, std::memory_order_acq_rel);
    try {
      engine_block_ = state_->engine_block();
    } catch (...) {
      state_->blocks.fetch_sub(1, std::memory_order_acq_rel);
      throw;
    }
  }

  subscription_block(subscription_block&& other) noexcept
      : state_(std::move(other.state_)), engine_block_(std::move(other.engine_block_)) {
    other.engine_block_.reset();
  }
  subscription_block& operator=(subscription_block&& other) noexcept {
    if (this != &other) {
      unblock();
      state_ = std::move(other.state_);
      engine_block_ = std::move(other.engine_block_);
      other.engine_block_.reset();
    }
    return *this;
  }
  subscription_block(const subscription_block&) = delete;
  subscription_block& operator=(const subscription_block&) = delete;
  ~subscription_block() { unblock(); }

  // Ends this block (the observer runs again unless another block holds it).
  // Idempotent. Thread-safe with respect to other blocks and publishes.
  void unblock() noexcept {
    if (!state_) return;
    engine_block_.reset();
    state_->blocks.fetch_sub(1, std::memory_order_acq_rel);
    state_.reset();
  }

  // True until unblock() (or destruction). Not thread-safe on one block.
  bool blocking() const noexcept { return state_ != nullptr; }

 private:
  std::shared_ptr<detail::subscription_state> state_;
  std::optional<boost::signals2::shared_connection_block> engine_block_;
};

class subscription {
 public:
  // An empty subscription: connected() is false, disconnect() does nothing.
  subscription() noexcept = default;
  explicit subscription(std::shared_ptr<detail::subscription_state> state) noexcept
      : state_(std::move(state)) {}

  subscription(subscription&&) noexcept = default;
  subscription& operator=(subscription&& other) noexcept {
    if (this != &other) {
      disconnect();
      state_ = std::move(other.state_);
    }
    return *this;
  }
  subscription(const subscription&) = delete;
  subscription& operator=(const subscription&) = delete;

  ~subscription() { disconnect(); }

  // Stops the observer. Called from outside any observer it also waits until
  // calls already running on other threads have returned, then destroys the
  // handler and what it captured (the handle stays, for id() and
  // connected()); called from inside an observer (any publish on this
  // thread) it does not wait, because the call it would wait for may be its
  // own caller. An observer on an executor is handed nothing of what was
  // queued for it. Idempotent, never throws. Thread-safe.
  void disconnect() noexcept {
    if (!state_) return;
    if (!state_->disconnected.exchange(true, std::memory_order_acq_rel)) {
      state_->unlink(state_);
    }
    if (!detail::inside_publish()) {
      if (state_->thread_safe) state_->wait_until_unused();
      state_->drop_handler();  // no call runs now, none will start
    }
    // After the slot: nothing more is queued, then nothing queued runs.
    if (state_->gate) state_->gate->close(/*wait=*/!detail::inside_publish());
  }

  // True while the observer can still be called: not disconnected, and its
  // tracked owner (if any) not yet found gone. Thread-safe.
  bool connected() const noexcept { return state_ && state_->linked(); }

  // Skips the observer while the returned block lives. Thread-safe.
  [[nodiscard]] subscription_block block() const {
    return state_ ? subscription_block(state_) : subscription_block();
  }

  // This subscription's id; {0} when empty. Thread-safe.
  subscription_id id() const noexcept { return state_ ? state_->id : subscription_id{}; }

 private:
  std::shared_ptr<detail::subscription_state> state_;
};

}  // namespace v1
}  // namespace courier

template <>
struct fmt::formatter<courier::subscription_id> : fmt::formatter<std::uint64_t> {
  template <class FormatContext>
  auto format(const courier::subscription_id& id, FormatContext& ctx) const {
    ctx.advance_to(fmt::format_to(ctx.out(), "subscription#"));
    return fmt::formatter<std::uint64_t>::format(id.value, ctx);
  }
};
