// courier::subscription: the RAII handle of one observer on a bus.
//
// Move-only; destroying it disconnects the observer. The rule users rely on:
// once disconnect() returns (called from outside any observer), the observer
// is not running on any thread and will never be called again, so whatever
// it touches may be destroyed. Signals2 alone promises less (a call may start
// just after disconnect returns); courier closes that gap by waiting until
// Signals2 releases the slot, which it does only when no publish holds it.
// The wait costs nothing on the publish path.
#pragma once

#include "courier/detail/publish_scope.hpp"

#include <boost/signals2/connection.hpp>
#include <boost/signals2/shared_connection_block.hpp>
#include <fmt/format.h>

#include <atomic>
#include <compare>
#include <cstdint>
#include <memory>

namespace courier {
inline namespace v1 {

// Identifies a subscription in logs; unique within the process.
struct subscription_id {
  std::uint64_t value = 0;
  friend auto operator<=>(const subscription_id&, const subscription_id&) = default;
};

// While a subscription_block lives, its observer is skipped (not
// disconnected). Blocks nest; see boost::signals2::shared_connection_block.
using subscription_block = boost::signals2::shared_connection_block;

namespace detail {

inline subscription_id next_subscription_id() noexcept {
  static std::atomic<std::uint64_t> next{1};
  return {next.fetch_add(1, std::memory_order_relaxed)};
}

// Shared by a subscription and the slot Signals2 stores for it.
struct subscription_state {
  subscription_state(std::shared_ptr<std::atomic<std::size_t>> observer_count, bool thread_safe)
      : observer_count(std::move(observer_count)), thread_safe(thread_safe) {}

  boost::signals2::connection connection;
  // The per-type count the bus reads to skip Signals2 when nobody listens.
  std::shared_ptr<std::atomic<std::size_t>> observer_count;
  const subscription_id id = next_subscription_id();
  const bool thread_safe;
  std::atomic<bool> disconnected{false};
  // Set when Signals2 destroyed our slot: no call is running, none will start.
  std::atomic<bool> released{false};
};

// Lives inside the slot Signals2 stores (one instance, shared by the slot's
// copies). Its destruction is Signals2 telling us the slot is released.
class release_signal {
 public:
  explicit release_signal(std::shared_ptr<subscription_state> state) : state_(std::move(state)) {}
  release_signal(const release_signal&) = delete;
  release_signal& operator=(const release_signal&) = delete;
  ~release_signal() {
    state_->released.store(true, std::memory_order_release);
    state_->released.notify_all();
  }

 private:
  std::shared_ptr<subscription_state> state_;
};

}  // namespace detail

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
  // calls already running on other threads have returned; called from inside
  // an observer (any publish on this thread) it does not wait, because the
  // call it would wait for may be its own caller. Idempotent, never throws.
  // Thread-safe.
  void disconnect() noexcept {
    if (!state_) return;
    if (!state_->disconnected.exchange(true, std::memory_order_acq_rel)) {
      state_->connection.disconnect();
      state_->observer_count->fetch_sub(1, std::memory_order_release);
    }
    if (state_->thread_safe && !detail::inside_publish()) {
      state_->released.wait(false, std::memory_order_acquire);
    }
  }

  // True while the observer can still be called: not disconnected, and its
  // tracked owner (if any) not yet found gone. Thread-safe.
  bool connected() const noexcept { return state_ && state_->connection.connected(); }

  // Skips the observer while the returned block lives. Thread-safe.
  [[nodiscard]] subscription_block block() const {
    return state_ ? subscription_block(state_->connection)
                  : subscription_block(boost::signals2::connection(), false);
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
