// An SQS channel's figures as metric families (courier/metrics.hpp): the
// OpenTelemetry messaging names for what this process did, labelled
// messaging_system="aws_sqs" and the queue's name, and the queue's depth as
// SQS reports it (courier_sqs_queue_*), when it could be read.
#pragma once

#include "courier/metrics.hpp"
#include "courier/sqs/channel_stats.hpp"

#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace courier {
inline namespace v1 {
namespace sqs {
namespace detail {

inline void report_channel(metric_set& out, const std::string& name, const channel_stats& stats,
                           const std::optional<queue_depth>& depth) {
  const std::vector<std::pair<std::string, std::string>> labels = {{"messaging_system", "aws_sqs"},
                                                                   {"messaging_destination_name", name}};
  const metric_set::labelled add(out, labels);
  using enum metric_type;
  add("messaging_client_sent_messages_total", counter, "Messages sent and accepted.",
      static_cast<double>(stats.sent));
  add("messaging_client_consumed_messages_total", counter,
      "Messages received that decoded, redeliveries included.", static_cast<double>(stats.received));
  add("courier_sqs_redeliveries_total", counter, "Received messages SQS had delivered before.",
      static_cast<double>(stats.redeliveries));
  add("courier_sqs_malformed_total", counter, "Received messages that did not decode (left in the queue).",
      static_cast<double>(stats.malformed));
  add("courier_sqs_acked_total", counter, "Messages deleted by this process.",
      static_cast<double>(stats.acked));
  add("courier_sqs_nacked_total", counter, "Deliveries made visible again by nack().",
      static_cast<double>(stats.nacked));
  out.add("courier_sqs_send_to_ack_seconds", histogram,
          "From SQS's SentTimestamp to this process's delete of the message (clock skew included).",
          stats.send_to_ack.sample(labels));
  out.add("messaging_process_duration_seconds", histogram,
          "How long consume()'s handler took per message, its ack included.",
          stats.handler_duration.sample(labels));
  add("courier_sqs_queue_read_failed", gauge,
      "1 when this scrape could not read the queue's depth from SQS (the courier_sqs_queue_* gauges are "
      "missing then).",
      depth ? 0 : 1);
  if (!depth) return;
  add("courier_sqs_queue_messages_visible", gauge, "SQS ApproximateNumberOfMessages: ready to be received.",
      static_cast<double>(depth->visible));
  add("courier_sqs_queue_messages_not_visible", gauge,
      "SQS ApproximateNumberOfMessagesNotVisible: received and not yet deleted.",
      static_cast<double>(depth->not_visible));
  add("courier_sqs_queue_messages_delayed", gauge, "SQS ApproximateNumberOfMessagesDelayed.",
      static_cast<double>(depth->delayed));
}

}  // namespace detail
}  // namespace sqs
}  // namespace v1
}  // namespace courier
