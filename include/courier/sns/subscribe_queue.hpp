// courier::sns::subscribe_queue: gives a subscribing service its own SQS
// queue on a topic, receiving only the event types it accepts.
//
//   auto hub = courier::sns::subscribe_queue(sns, sqs, topic_arn, "hub.fifo",
//       {.types = courier::sns::event_types<pickup, delivered>()});
//   courier::sqs::bus_feed feed(sqs, hub.queue_url, bus);
//   feed.accept<pickup>().accept<delivered>().apply_once_with(store);
//
// It does what the AWS console's "subscribe queue to topic" does, and is
// safe to run again (every service start may call it; several processes
// of one service may call it at once): the queue is created if missing and
// reused as it is otherwise; the queue policy gains a statement letting
// this topic send to it (other statements kept); the subscription is made
// if missing and otherwise set to what is asked. The subscription uses raw
// delivery (the queue gets the event's JSON and its message attributes, not
// SNS's envelope) and a filter policy on the "courier.type" (and, if asked,
// "courier.group") attribute.
#pragma once

#include "courier/event_name.hpp"
#include "courier/sns/client.hpp"
#include "courier/sqs/client.hpp"

#include <map>
#include <string>
#include <vector>

namespace courier {
inline namespace v1 {
namespace sns {

struct queue_subscription_options {
  // Event names (event_name<E>()) the queue receives; empty: every event of
  // the topic.
  std::vector<std::string> types = {};
  // Message groups (send_options::group, the "courier.group" attribute) the
  // queue receives; empty: every group. With types, an event must match
  // both.
  std::vector<std::string> groups = {};
  // Attributes of a queue created here (VisibilityTimeout, RedrivePolicy,
  // ...); an existing queue keeps its own. A FIFO queue (name ending in
  // ".fifo") gets FifoQueue=true without asking.
  std::map<std::string, std::string> queue_attributes = {};
};

struct queue_subscription {
  std::string queue_url = {};
  std::string queue_arn = {};
  std::string subscription_arn = {};
};

// The event names of E..., for queue_subscription_options::types.
template <class... E>
std::vector<std::string> event_types() {
  return {std::string(event_name<E>())...};
}

// The filter policy that lets through events of the given types and groups
// ({"courier.type": [...], "courier.group": [...]}; an empty list sets no
// condition); "" when both are empty (no filter).
std::string filter_policy(const std::vector<std::string>& types, const std::vector<std::string>& groups = {});

// Subscribes the queue queue_name to the topic as above. Throws
// courier::error(invalid_option) for a FIFO queue on a standard topic (SNS
// refuses it; a FIFO topic may feed a standard queue, without order), or
// courier::aws::error from SQS or SNS. Thread-safe (for distinct clients or
// not: both clients are).
queue_subscription subscribe_queue(client& sns, sqs::client& sqs, const std::string& topic_arn,
                                   const std::string& queue_name,
                                   const queue_subscription_options& options = {});

}  // namespace sns
}  // namespace v1
}  // namespace courier
