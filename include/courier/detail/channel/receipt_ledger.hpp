// Whether a receipt may still settle its message, and why not.
//
// Each delivery gets a new receipt; only the newest one settles the message.
// The ledger remembers recent settlements (which delivery settled each
// message, and how) to tell a late ack of that very delivery
// (already_acked) from a stale receipt, in bounded memory (recent_ids).
// check() answers with a verdict, never by throwing, so a batch of acks is
// a loop; refusal() turns a verdict into the error a single call throws.
// Nothing here reads a clock. Not thread-safe.
#pragma once

#include "courier/clock.hpp"
#include "courier/delivery_receipt.hpp"
#include "courier/detail/recent_ids.hpp"
#include "courier/error.hpp"
#include "courier/message_id.hpp"

#include <fmt/format.h>

#include <cstddef>
#include <cstdint>
#include <optional>

namespace courier {
inline namespace v1 {
namespace detail {

enum class receipt_verdict : std::uint8_t {
  open,             // names the current delivery, which may settle the message
  already_acked,    // this very delivery was acked before
  unknown,          // no such message, or settled too long ago to tell
  settled,          // the message was settled otherwise (through another delivery, dead-lettered)
  delivered_again,  // a newer delivery of the message exists
  nacked,           // this delivery was nacked
  expired,          // its visibility timeout passed (refused only where that matters)
};

struct receipt_check {
  receipt_verdict verdict;
  delivery_outcome outcome = delivery_outcome::acked;  // settled: how
  std::uint64_t current_delivery = 0;                  // delivered_again: the newer one
};

// The current delivery of a message the channel still holds.
struct live_delivery {
  std::uint64_t delivery;
  bool open;       // not nacked
  bool in_flight;  // its visibility has not run out
};

class receipt_ledger {
 public:
  receipt_ledger(clock::duration remember_for, std::size_t max_remembered)
      : settled_(remember_for, max_remembered) {}

  // Message id was settled through delivery by_delivery (0: not through a delivery).
  void settled(std::uint64_t id, std::uint64_t by_delivery, delivery_outcome outcome, clock::time_point now) {
    settled_.insert(id, entry{by_delivery, outcome}, now);
  }

  // What handle may do: current is the message's delivery if the channel
  // still holds it. allow_expired: an ack may still settle a delivery whose
  // visibility ran out, as long as nobody else holds it.
  receipt_check check(const receipt& handle, const std::optional<live_delivery>& current, bool allow_expired,
                      clock::time_point now) const {
    if (!current) {
      const entry* settled = settled_.find(handle.message.value, now);
      if (settled == nullptr) return {receipt_verdict::unknown};
      if (settled->delivery == handle.delivery && settled->outcome == delivery_outcome::acked) {
        return {receipt_verdict::already_acked};
      }
      return {receipt_verdict::settled, settled->outcome};
    }
    if (current->delivery != handle.delivery)
      return {receipt_verdict::delivered_again, {}, current->delivery};
    if (!current->open) return {receipt_verdict::nacked};
    if (!allow_expired && !current->in_flight) return {receipt_verdict::expired};
    return {receipt_verdict::open};
  }

  // The error operation (ack, nack, extend) throws for a refused receipt.
  static error refusal(const receipt_check& check, const receipt& handle, const char* operation) {
    switch (check.verdict) {
      case receipt_verdict::unknown:
        return error(errc::unknown_receipt,
                     fmt::format("{}({}): no such message in this channel (or settled too long ago)",
                                 operation, handle));
      case receipt_verdict::already_acked:
        return error(errc::stale_receipt,
                     fmt::format("{}({}): this delivery was already acked", operation, handle));
      case receipt_verdict::settled:
        return error(errc::stale_receipt,
                     fmt::format("{}({}): the message was already {}", operation, handle, check.outcome));
      case receipt_verdict::delivered_again:
        return error(errc::stale_receipt,
                     fmt::format("{}({}): the message was delivered again since (delivery {})", operation,
                                 handle, check.current_delivery));
      case receipt_verdict::nacked:
        return error(errc::stale_receipt, fmt::format("{}({}): this delivery was nacked", operation, handle));
      case receipt_verdict::expired:
        return error(errc::stale_receipt,
                     fmt::format("{}({}): the visibility timeout has passed", operation, handle));
      case receipt_verdict::open:
        break;
    }
    return error(errc::stale_receipt, fmt::format("{}({}): refused", operation, handle));
  }

 private:
  struct entry {
    std::uint64_t delivery;  // the delivery that settled it (0: dead-lettered via nack)
    delivery_outcome outcome;
  };
  recent_ids<entry> settled_;
};

}  // namespace detail
}  // namespace v1
}  // namespace courier
