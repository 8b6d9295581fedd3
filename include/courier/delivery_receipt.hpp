// What a sender learns about its message: acked, dead-lettered or timed out.
//
// A send that asks for it (send_options::track_delivery) gets a
// delivery_receipt, a shared future of the message's outcome. Senders that do
// not ask pay nothing: the shared state is made only on request. Duplicate
// sends share the receipt of the message they duplicate.
#pragma once

#include <chrono>
#include <future>
#include <optional>
#include <string_view>

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

class delivery_receipt {
 public:
  delivery_receipt() = default;  // tracks nothing: valid() is false
  explicit delivery_receipt(std::shared_future<delivery_outcome> outcome) : outcome_(std::move(outcome)) {}

  // True when this receipt tracks a message. Thread-safe.
  bool valid() const noexcept { return outcome_.valid(); }

  // Blocks until the outcome is known. Precondition: valid(). Thread-safe.
  delivery_outcome get() const { return outcome_.get(); }

  // The outcome if it is known within timeout, else nothing. Thread-safe.
  template <class Rep, class Period>
  std::optional<delivery_outcome> wait_for(std::chrono::duration<Rep, Period> timeout) const {
    if (outcome_.wait_for(timeout) != std::future_status::ready) return std::nullopt;
    return outcome_.get();
  }

  // The outcome if already known; never blocks. Thread-safe.
  std::optional<delivery_outcome> peek() const { return wait_for(std::chrono::seconds(0)); }

 private:
  std::shared_future<delivery_outcome> outcome_;
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
