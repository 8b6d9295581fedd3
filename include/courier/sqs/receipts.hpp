// Delivery receipts across processes: what a consumer sends back to the
// sender of a message that asked for one, over SQS.
//
// A tracked message (send_options::track_delivery, with a receipt_inbox on
// the sending side) carries two message attributes: "courier.id" (the
// message's id as its sender knows it: SQS and SNS give every copy its own
// MessageId) and "courier.reply_to" (the URL of the sender's reply queue).
// courier's consumers (sqs::channel::consume(), sqs::bus_feed) answer it
// with one receipt message on that queue:
//   body {"id": "...", "outcome": "acked" | "dead_lettered",
//         "consumer": "...", "time": <epoch ms>}
//   attribute "courier.type" = "courier.receipt"
// - acked: once the handler returned (with an idempotent store, once the
//   effect is marked applied), sent just before the consumer's delete. A
//   consumer that dies between the two is redelivered, its store turns the
//   message away, and it answers again: the sender's inbox keeps the first
//   receipt of each consumer. Sent after the delete, the receipt would die
//   with such a consumer, and the message would never come back to send it.
// - dead_lettered: the message was not acked on the last receive its
//   queue's RedrivePolicy (maxReceiveCount) allows; SQS moves it to the
//   dead-letter queue at its next receive.
// What no receipt can tell: a consumer that dies after its effect and
// before its ack sends nothing, and the sender learns the outcome when the
// redelivery is turned away by the idempotent store and acked (or its
// deadline passes first: timed_out).
//
// A consumer sends a receipt only to a queue URL of the SQS endpoint it
// reads from (the request goes to its own client), so a sender can make it
// write a fixed, small receipt and nothing else.
#pragma once

#include "courier/delivery_receipt.hpp"
#include "courier/sqs/client.hpp"

#include <chrono>
#include <exception>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace courier {
inline namespace v1 {
namespace sqs {

// The attribute naming the queue a tracked message's receipts go to.
inline constexpr const char* reply_to_attribute = "courier.reply_to";
// The courier.type of a receipt message.
inline constexpr const char* receipt_type = "courier.receipt";
// A reply_to longer than this is not a queue URL: no receipt is sent.
inline constexpr std::size_t max_reply_to_bytes = 1024;

// One consumer's answer about one message.
struct remote_receipt {
  std::string id = {};  // the message's courier.id
  delivery_outcome outcome = delivery_outcome::acked;
  std::string consumer = {};  // which consumer (by default its queue's name)
  std::chrono::system_clock::time_point time = {};
  friend bool operator==(const remote_receipt&, const remote_receipt&) = default;
};

// The receipt message for receipt (body and courier.type attribute).
outgoing_message encode_receipt(const remote_receipt& receipt);

// The receipt in a received message, or nullopt when it is not one (wrong
// type, not JSON, a member missing or of the wrong kind, an outcome other
// than acked or dead_lettered). Never throws.
std::optional<remote_receipt> decode_receipt(const received_message& message);

// The reply queue a received message asks receipts to go to, or "" (none
// asked, or not a URL of at most max_reply_to_bytes).
std::string reply_to_of(const received_message& message);

// The name of the queue at url (its last path segment): a consumer's
// default name in its receipts.
std::string queue_name_of(std::string_view url);

// A consumer's receipts, gathered while it handles a receive and sent
// together: one SendMessageBatch per reply queue and 10 receipts. Nothing
// is sent for a message that asked for no receipt. Never throws: a receipt
// that cannot be sent is reported to on_failure (default: a line on
// stderr, except for a reply queue that no longer exists: its sender has
// gone) and the sender learns nothing, as if the consumer had died. Not
// thread-safe: one per consumer thread.
class receipt_sender {
 public:
  receipt_sender(client& sqs, std::string consumer,
                 std::function<void(const std::string& reply_to, const std::exception&)> on_failure = {});
  ~receipt_sender();  // sends what is left (flush())
  receipt_sender(const receipt_sender&) = delete;
  receipt_sender& operator=(const receipt_sender&) = delete;

  void add(const received_message& message, delivery_outcome outcome);
  void flush();

 private:
  client& sqs_;
  std::string consumer_;
  std::function<void(const std::string&, const std::exception&)> on_failure_;
  std::vector<std::pair<std::string, remote_receipt>> pending_;  // reply queue, receipt
};

// Whether a received message is on the last receive its queue's redrive
// policy allows, so a consumer that does not ack it answers dead_lettered.
// Asks the queue's maxReceiveCount once, on first use (a failure to ask is
// reported once and means no dead-letter receipts). Thread-safe.
class last_receive_check {
 public:
  last_receive_check(client& sqs, std::string queue_url) : sqs_(sqs), queue_url_(std::move(queue_url)) {}
  bool operator()(const received_message& message);

 private:
  client& sqs_;
  std::string queue_url_;
  std::once_flag read_;
  std::optional<int> max_receives_;
};

// The queue's RedrivePolicy maxReceiveCount, or nullopt when it has no
// redrive policy. Throws courier::aws::error.
std::optional<int> max_receive_count(client& sqs, const std::string& queue_url);

}  // namespace sqs
}  // namespace v1
}  // namespace courier
