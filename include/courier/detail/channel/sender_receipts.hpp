// The delivery receipts senders await (send_options::track_delivery).
//
// A held message's receipt is a promise in its record, made on the first
// request and resolved once, by the first outcome. A message already
// settled when a duplicate send asks for its receipt gets a ready one:
// dead-lettered if the ledger of dead letters (kept as long as keys are)
// knows it, acked otherwise. Nothing here reads a clock. Not thread-safe.
#pragma once

#include "courier/clock.hpp"
#include "courier/delivery_receipt.hpp"
#include "courier/detail/channel/record.hpp"
#include "courier/detail/expiring_map.hpp"

#include <cstdint>
#include <memory>

namespace courier {
inline namespace v1 {
namespace detail {

class sender_receipts {
 public:
  explicit sender_receipts(clock::duration remember_dead_letters_for)
      : dead_lettered_(remember_dead_letters_for) {}

  // The receipt of a message still held; tracking starts now if it had not.
  static delivery_receipt of_held(std::unique_ptr<delivery_tracking>& tracked) {
    if (!tracked) tracked = std::make_unique<delivery_tracking>();
    return delivery_receipt(tracked->outcome);
  }

  // Tells the sender, if it is tracking and has not been told yet.
  static void resolve(const std::unique_ptr<delivery_tracking>& tracked, delivery_outcome outcome) {
    if (tracked) tracked->outcome->set(outcome);  // only the first outcome counts
  }

  void dead_lettered(std::uint64_t id, clock::time_point at) {
    dead_lettered_.expire(at);
    dead_lettered_.insert(id, true, at);
  }

  // The receipt of a message no longer held: it was acked or dead-lettered.
  delivery_receipt of_settled(std::uint64_t id, clock::time_point now) {
    dead_lettered_.expire(now);
    return delivery_receipt::known(dead_lettered_.find(id) != nullptr ? delivery_outcome::dead_lettered
                                                                      : delivery_outcome::acked);
  }

 private:
  expiring_map<std::uint64_t, bool> dead_lettered_;
};

}  // namespace detail
}  // namespace v1
}  // namespace courier
