// courier::sns::publisher and sns::topic<E>: events published to an SNS
// topic, for every subscribing service to receive its own copy.
//
// An event goes out as SQS messages do from sqs::channel: its JSON
// (courier::json) as the message, its type in the "courier.type" message
// attribute, so a subscription's filter policy can pick types and the
// subscriber's sqs::bus_feed publishes each as its type. More is carried,
// because a subscriber sees neither SNS's message id nor the publisher's
// key, and may want only some groups:
// - "courier.group", send_options::group when there is one: a
//   subscription can filter by group as well as by type.
// - "courier.id", the event's id: the send's idempotency key, else a fresh
//   random one. A subscriber applies each id once (received_message::
//   dedup_id()), so SNS's own at-least-once delivery and a publisher's
//   retried publish become one effect.
// - On FIFO topics, MessageDeduplicationId = that id and MessageGroupId =
//   send_options::group (required). A publish the AWS core retries
//   carries the same id, so SNS drops the copy. With
//   publisher_options::content_based_deduplication the id of a send
//   without key is left to the topic (its ContentBasedDeduplication).
//
//   courier::sns::topic<pickup> pickups(sns, topic_arn);
//   auto forwarding = courier::route<pickup>(bus, pickups, [](const pickup& p) {
//     return courier::send_options{.group = p.vendor};
//   });
//
// Delivery receipts: with publisher_options::receipts (a receipt_inbox), a
// send with track_delivery carries the inbox's queue in
// "courier.reply_to", and every subscribing service's consumer answers on
// its own (courier/sqs/receipts.hpp); publish_result::receipts awaits the
// first, a named one, or all of a list.
//
// SNS has no per-message delay (send_options::delay is refused).
// Thread-safe.
#pragma once

#include "courier/aws/random_id.hpp"
#include "courier/channel_options.hpp"
#include "courier/error.hpp"
#include "courier/event_name.hpp"
#include "courier/json/codec.hpp"
#include "courier/metrics.hpp"
#include "courier/sns/client.hpp"
#include "courier/sqs/channel.hpp"
#include "courier/sqs/receipt_inbox.hpp"
#include "courier/sqs/receipts.hpp"
#include "courier/sqs/trace.hpp"
#include "courier/trace_scope.hpp"

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <utility>

namespace courier {
inline namespace v1 {
namespace sns {

// The message attributes courier puts on every event: its type (shared
// with sqs::channel and sqs::bus_feed) and its id.
using sqs::event_id_attribute;
using sqs::event_type_attribute;

struct publisher_options {
  // FIFO topics with ContentBasedDeduplication: a send without
  // idempotency key carries no MessageDeduplicationId, and SNS dedups it
  // by a hash of its body. Off: courier's id is the dedup id.
  bool content_based_deduplication = false;
  // Where receipts of sends with track_delivery come back. Empty:
  // track_delivery is refused.
  std::shared_ptr<sqs::receipt_inbox> receipts = {};
  // Where the publisher reports what it published, as families labelled
  // messaging_system="aws_sns" and messaging_destination_name=name (empty:
  // the topic's name, the ARN's last part). Copies of a publisher share
  // one count.
  std::shared_ptr<metrics_registry> metrics = {};
  std::string name = {};
};

// What SNS said about a publish, and the event's id.
struct publish_result {
  std::string message_id = {};  // SNS's (not what subscribers see: each queue gives its own)
  std::string sequence = {};    // FIFO topics
  std::string id = {};          // courier.id: what subscribers dedup and receipts name
  // With track_delivery: the first subscriber's receipt, and all of them
  // (receipts.from("hub"), receipts.wait_all({...})).
  delivery_receipt receipt = {};
  sqs::delivery_receipts receipts = {};
};

class publisher {
 public:
  // sns must outlive the publisher.
  publisher(client& sns, std::string topic_arn, publisher_options options = {})
      : sns_(sns), topic_arn_(std::move(topic_arn)), options_(options) {
    if (topic_arn_.empty()) throw courier::error(errc::invalid_option, "sns::publisher: topic_arn is empty");
    fifo_ = topic_arn_.ends_with(".fifo");
    if (options_.metrics) {
      const std::string name =
          options_.name.empty() ? topic_arn_.substr(topic_arn_.rfind(':') + 1) : options_.name;
      counts_ = std::make_shared<publish_counts>();
      counts_->registration = options_.metrics->add([counts = counts_.get(), name](metric_set& out) {
        const std::vector<std::pair<std::string, std::string>> labels = {
            {"messaging_system", "aws_sns"}, {"messaging_destination_name", name}};
        out.add("messaging_client_sent_messages_total", metric_type::counter,
                "Messages published and accepted.", labels,
                static_cast<double>(counts->published.load(std::memory_order_relaxed)));
        out.add("courier_sns_publish_failures_total", metric_type::counter,
                "Publishes SNS refused or that did not reach it (after the client's retries).", labels,
                static_cast<double>(counts->failed.load(std::memory_order_relaxed)));
      });
    }
  }

  // Publishes event; returns once SNS accepted it. Throws courier::error
  // (missing_group on a FIFO topic without group; invalid_option for a
  // delay) or courier::aws::error. Thread-safe.
  template <class E>
  publish_result publish(const E& event, const send_options& options = {}) {
    outgoing_message message = encode(event, options);
    publish_result out;
    out.id = message.message_attributes[event_id_attribute].value;
    if (options.track_delivery) {
      out.receipts = options_.receipts->track(out.id, options.receipt_timeout);  // encode() began it
      out.receipt = out.receipts.first();
    }
    published done;
    try {
      done = sns_.publish(topic_arn_, message);
    } catch (...) {
      if (counts_) counts_->failed.fetch_add(1, std::memory_order_relaxed);
      throw;
    }
    if (counts_) counts_->published.fetch_add(1, std::memory_order_relaxed);
    out.message_id = done.message_id;
    out.sequence = done.sequence_number;
    return out;
  }

  // The SNS message publish() sends for event: for publish_batch() and
  // tests. With track_delivery it begins tracking the event's id (the
  // inbox's track(id) returns it). Throws as publish() does. Thread-safe.
  template <class E>
  outgoing_message encode(const E& event, const send_options& options = {}) const {
    if (options.delay.count() != 0) {
      throw courier::error(errc::invalid_option,
                           "sns::publisher: SNS has no per-message delay (send_options::delay)");
    }
    if (fifo_ && options.group.empty()) {
      throw courier::error(errc::missing_group,
                           "sns::publisher on a FIFO topic: send_options::group is empty");
    }
    if (options.track_delivery && !options_.receipts) {
      throw courier::error(errc::invalid_option,
                           "sns::publisher: track_delivery needs publisher_options::receipts (a "
                           "receipt_inbox: the queue receipts come back to)");
    }
    outgoing_message out;
    out.body = json::encode(event);
    const std::string id = options.idempotency_key.empty() ? aws::random_id() : options.idempotency_key;
    out.message_attributes[event_type_attribute] = attribute{"String", std::string(event_name<E>())};
    out.message_attributes[event_id_attribute] = attribute{"String", id};
    if (!options.group.empty()) {
      out.message_attributes[sqs::event_group_attribute] = attribute{"String", options.group};
    }
    if (fifo_) {
      out.group_id = options.group;
      if (!options.idempotency_key.empty() || !options_.content_based_deduplication)
        out.deduplication_id = id;
    }
    // The trace as SQS carries it (sqs/trace.hpp): a subscribed queue with
    // raw delivery gets these attributes as its own. At most six attributes
    // are set here, so SQS's 10 always leave room.
    const trace_context& trace = options.trace.empty() ? current_trace() : options.trace;
    check_trace(trace, "sns::publisher send_options::trace");
    if (!trace.empty()) {
      out.message_attributes[sqs::traceparent_attribute] = attribute{"String", trace.traceparent};
      if (!trace.tracestate.empty()) {
        out.message_attributes[sqs::tracestate_attribute] = attribute{"String", trace.tracestate};
      }
    }
    if (options.track_delivery) {
      out.message_attributes[sqs::reply_to_attribute] = attribute{"String", options_.receipts->queue_url()};
      options_.receipts->track(id, options.receipt_timeout);  // before the publish: no receipt comes first
    }
    return out;
  }

  const std::string& topic_arn() const noexcept { return topic_arn_; }
  bool fifo() const noexcept { return fifo_; }

 private:
  // Shared by copies of the publisher; the registration ends with the last.
  struct publish_counts {
    std::atomic<std::uint64_t> published{0};
    std::atomic<std::uint64_t> failed{0};
    metrics_registry::registration registration;  // last: removed first
  };

  client& sns_;
  std::string topic_arn_;
  publisher_options options_;
  bool fifo_ = false;
  std::shared_ptr<publish_counts> counts_;  // with a metrics registry
};

// A publisher of one type, shaped like a channel (value_type, send) so
// courier::route<E>(bus, topic) forwards a bus's events to the topic.
template <class E>
class topic {
 public:
  using value_type = E;

  topic(client& sns, std::string topic_arn, publisher_options options = {})
      : publisher_(sns, std::move(topic_arn), options) {}

  // publisher::publish(). Thread-safe.
  publish_result send(const E& event, const send_options& options = {}) {
    return publisher_.publish(event, options);
  }

  const std::string& topic_arn() const noexcept { return publisher_.topic_arn(); }

 private:
  publisher publisher_;
};

}  // namespace sns
}  // namespace v1
}  // namespace courier
