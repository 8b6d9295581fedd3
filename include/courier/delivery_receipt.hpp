// What a sender learns about its message: acked, dead-lettered or timed out.
//
// A send that asks for it (send_options::track_delivery) gets a
// delivery_receipt, a shared future of the message's outcome. Senders that do
// not ask pay nothing: the shared state is made only on request. Duplicate
// sends share the receipt of the message they duplicate.
//
// Three ways to learn the outcome: block (get, wait_for), look (peek), or
// be told: on_outcome() takes a callback, and async_wait() (with
// <courier/asio.hpp>) completes an Asio operation, so a coroutine awaits
// its receipt without a thread blocked on it.
#pragma once

#include "courier/detail/set_once.hpp"

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string_view>
#include <utility>

#include <fmt/format.h>

namespace courier {
inline namespace v1 {

enum class delivery_outcome {
  acked,          // a consumer acknowledged it
  dead_lettered,  // it reached max_receives and moved to the dead-letter channel
  timed_out,      // send_options::receipt_timeout passed first (the message stays queued)
  abandoned,      // the channel was closed or destroyed before the message was settled
};

constexpr std::string_view to_string(delivery_outcome outcome) noexcept {
  switch (outcome) {
    case delivery_outcome::acked:
      return "acked";
    case delivery_outcome::dead_lettered:
      return "dead_lettered";
    case delivery_outcome::timed_out:
      return "timed_out";
    case delivery_outcome::abandoned:
      return "abandoned";
  }
  return "unknown";
}

namespace detail {
// Specialised in <courier/asio.hpp>; the primary template says where.
template <class Receipt, class Token>
struct asio_receipt_ops {
  static_assert(sizeof(Token) == 0, "delivery_receipt::async_wait needs #include <courier/asio.hpp>");
};
}  // namespace detail

class delivery_receipt {
 public:
  using state = detail::set_once<delivery_outcome>;

  delivery_receipt() = default;  // tracks nothing: valid() is false
  explicit delivery_receipt(std::shared_ptr<state> outcome) : outcome_(std::move(outcome)) {}

  // A receipt whose outcome is known already.
  static delivery_receipt known(delivery_outcome outcome) {
    auto ready = std::make_shared<state>();
    ready->set(outcome);
    return delivery_receipt(std::move(ready));
  }

  // True when this receipt tracks a message. Thread-safe.
  bool valid() const noexcept { return outcome_ != nullptr; }

  // Blocks until the outcome is known. Precondition: valid(). Thread-safe.
  delivery_outcome get() const { return outcome_->wait(); }

  // The outcome if it is known within timeout, else nothing. Precondition:
  // valid(). Thread-safe.
  template <class Rep, class Period>
  std::optional<delivery_outcome> wait_for(std::chrono::duration<Rep, Period> timeout) const {
    return outcome_->wait_for(timeout);
  }

  // The outcome if already known; never blocks. Precondition: valid().
  // Thread-safe.
  std::optional<delivery_outcome> peek() const { return outcome_->peek(); }

  // Calls then(outcome) once the outcome is known: at once on this thread
  // if it is (returns 0), else on the thread that settles the message, which
  // may hold a channel's lock: then must not block or call back into the
  // channel; post the work elsewhere. Returns a registration for
  // forget_outcome(). Precondition: valid(). Thread-safe.
  std::uint64_t on_outcome(std::function<void(delivery_outcome)> then) const {
    return outcome_->when_set([then = std::move(then)](const delivery_outcome& outcome) { then(outcome); });
  }

  // Takes back an on_outcome() callback. Returns true when it had not been
  // called (it never will be). Thread-safe.
  bool forget_outcome(std::uint64_t registration) const { return outcome_->forget(registration); }

  // Waits for the outcome without blocking a thread: an Asio asynchronous
  // operation with signature void(boost::system::error_code,
  // delivery_outcome), completed on the token's associated executor;
  // cancellable (operation_aborted). Needs <courier/asio.hpp>.
  // Precondition: valid(). Thread-safe.
  template <class CompletionToken>
  auto async_wait(CompletionToken&& token) const {
    return detail::asio_receipt_ops<delivery_receipt, CompletionToken>::wait(
        *this, std::forward<CompletionToken>(token));
  }

 private:
  std::shared_ptr<state> outcome_;
};

}  // namespace v1
}  // namespace courier

template <>
struct fmt::formatter<courier::delivery_outcome> : fmt::formatter<std::string_view> {
  template <class FormatContext>
  auto format(courier::delivery_outcome outcome, FormatContext& ctx) const {
    return fmt::formatter<std::string_view>::format(courier::to_string(outcome), ctx);
  }
};
