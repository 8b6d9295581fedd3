// courier::sqs::receipt_inbox: where a sender's delivery receipts come back
// from consumers in other processes (courier/sqs/receipts.hpp says what a
// consumer sends and when).
//
// The inbox owns a reply queue (made on demand) and a thread long-polling
// it. A send that asks for a receipt is tracked by its courier.id before it
// goes out; each receipt that arrives resolves what the sender awaits:
//
//   auto inbox = std::make_shared<courier::sqs::receipt_inbox>(sqs);
//   courier::sqs::channel<pickup> pickups(sqs, {.queue_url = url, .receipts = inbox});
//   auto sent = pickups.send(p, {.track_delivery = true, .receipt_timeout = 30s});
//   sent.receipt.get();  // acked, dead_lettered, or timed_out after 30 s
//
// Through an SNS topic every subscribing service answers on its own
// (sns::publish_result::receipts): await the first, a named consumer, or
// all of a list. A consumer's repeated receipt (it acked a redelivery the
// idempotent store turned away) resolves nothing twice: the first receipt
// of each consumer is the one kept.
//
// Bounds: a tracked message is forgotten at its deadline (its waits
// resolve timed_out; a receipt after that is counted as late and dropped),
// and at most max_tracked are tracked at once. A receipt for an id never
// tracked here (another inbox's, a restarted sender's) is dropped and
// counted. Thread-safe.
#pragma once

#include "courier/delivery_receipt.hpp"
#include "courier/sqs/client.hpp"
#include "courier/sqs/receipts.hpp"

#include <chrono>
#include <cstddef>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace courier {
inline namespace v1 {
namespace sqs {

namespace detail {
struct receipt_tracking;  // src/sqs/receipt_tracking.hpp
}

// What one tracked message learns from the consumers that handle it.
// Copies share one state. A default-constructed one tracks nothing.
class delivery_receipts {
 public:
  delivery_receipts() = default;
  explicit delivery_receipts(std::shared_ptr<detail::receipt_tracking> state) : state_(std::move(state)) {}

  bool valid() const noexcept { return state_ != nullptr; }
  // The message's courier.id. Precondition: valid().
  const std::string& id() const;

  // Resolves with the first receipt of any consumer; timed_out at the
  // deadline, abandoned if the inbox is destroyed first. Thread-safe.
  delivery_receipt first() const;
  // Resolves with consumer's first receipt (timed_out, abandoned as
  // above). Thread-safe.
  delivery_receipt from(const std::string& consumer) const;
  // Blocks until each of consumers has answered or the deadline passed;
  // every consumer's outcome (timed_out for those that did not answer).
  // Thread-safe.
  std::map<std::string, delivery_outcome> wait_all(const std::vector<std::string>& consumers) const;
  // The receipts so far, one per consumer, in arrival order. Thread-safe.
  std::vector<remote_receipt> received() const;

 private:
  std::shared_ptr<detail::receipt_tracking> state_;
};

struct receipt_inbox_options {
  // The reply queue's name, created if missing. Empty: a queue of this
  // inbox alone, "courier-receipts-<random id>", deleted with the inbox.
  std::string queue_name = {};
  // How long a tracked message waits when its send names no
  // receipt_timeout.
  std::chrono::milliseconds default_timeout = std::chrono::minutes(15);
  // track() beyond this many at once throws errc::channel_full.
  std::size_t max_tracked = 100'000;
  // A receipt unread this long is dropped by SQS (the queue's
  // MessageRetentionPeriod; SQS's minimum is 60 s).
  std::chrono::seconds retention = std::chrono::hours(1);
};

class receipt_inbox {
 public:
  // Creates (or finds) the reply queue and starts reading it. sqs must
  // outlive the inbox. Throws courier::aws::error.
  explicit receipt_inbox(client& sqs, receipt_inbox_options options = {});
  // Stops reading; whatever is still awaited resolves abandoned. Deletes a
  // queue it named itself.
  ~receipt_inbox();
  receipt_inbox(const receipt_inbox&) = delete;
  receipt_inbox& operator=(const receipt_inbox&) = delete;

  // Where receipts are to be sent (the courier.reply_to of tracked sends).
  const std::string& queue_url() const noexcept;

  // Starts tracking the message id until timeout from now (zero:
  // default_timeout). Tracking an id already tracked (a repeated send with
  // the same idempotency key) returns the same state. Call it before the
  // message is sent, so no receipt can come first. Throws courier::error
  // (channel_full at max_tracked). Thread-safe.
  delivery_receipts track(const std::string& id, std::chrono::milliseconds timeout = {});

  struct counters {
    std::size_t tracked = 0;    // ids tracked now
    std::size_t receipts = 0;   // receipts that resolved something
    std::size_t repeated = 0;   // a consumer's second receipt for one id
    std::size_t unknown = 0;    // for ids not tracked (late, or never here)
    std::size_t malformed = 0;  // messages on the reply queue that are no receipt
  };
  // Thread-safe.
  counters stats() const;
  // Blocks until condition(stats()) holds (checked at once and after each
  // message the inbox reads) or timeout passes; returns whether it held.
  // For tests and monitoring: "the second receipt has come". Thread-safe.
  bool wait_for_stats(const std::function<bool(const counters&)>& condition,
                      std::chrono::milliseconds timeout) const;

 private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

}  // namespace sqs
}  // namespace v1
}  // namespace courier
