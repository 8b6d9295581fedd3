// A channel's figures as metric families (see courier/metrics.hpp for the
// naming): the OpenTelemetry messaging names where the conventions define
// one, courier_channel_* for the rest. Reported from channel_stats, which
// the channel reads under its lock at scrape time.
#pragma once

#include "courier/channel_stats.hpp"
#include "courier/metrics.hpp"

#include <chrono>
#include <string>

namespace courier {
inline namespace v1 {
namespace detail {

inline void report_channel(metric_set& out, const std::string& name, bool fifo, const channel_stats& stats) {
  const std::vector<std::pair<std::string, std::string>> labels = {{"messaging_system", "courier"},
                                                                   {"messaging_destination_name", name}};
  const metric_set::labelled add(out, labels);
  using enum metric_type;
  add("messaging_client_sent_messages_total", counter,
      "Messages sent and accepted as new (a send answered from the dedup window is counted in "
      "courier_channel_duplicate_sends_total instead).",
      static_cast<double>(stats.accepted));
  add("courier_channel_duplicate_sends_total", counter,
      "Sends answered from the dedup window: nothing new was queued.", static_cast<double>(stats.duplicates));
  add("messaging_client_consumed_messages_total", counter,
      "Messages handed to consumers, redeliveries included.", static_cast<double>(stats.deliveries));
  add("courier_channel_redeliveries_total", counter, "Deliveries of a message that was delivered before.",
      static_cast<double>(stats.redeliveries));
  add("courier_channel_acked_total", counter, "Messages acknowledged: done for good.",
      static_cast<double>(stats.acked));
  add("courier_channel_nacked_total", counter, "Deliveries given back by nack(), to be delivered again.",
      static_cast<double>(stats.nacked));
  add("courier_channel_visibility_expired_total", counter,
      "Deliveries whose visibility timeout ran out before an ack or a nack.",
      static_cast<double>(stats.visibility_expired));
  add("courier_channel_dead_lettered_total", counter,
      "Messages moved to the dead letters after max_receives.", static_cast<double>(stats.dead_lettered));
  add("courier_channel_messages", gauge, "Messages accepted and not yet acked or dead-lettered.",
      static_cast<double>(stats.waiting));
  add("courier_channel_messages_in_flight", gauge, "Messages delivered and waiting for their ack.",
      static_cast<double>(stats.in_flight));
  add("courier_channel_oldest_ready_age_seconds", gauge,
      "How long ago the message first in line to be received was sent; 0 when none is ready.",
      std::chrono::duration<double>(stats.oldest_ready_age).count());
  out.add("courier_channel_send_to_ack_seconds", histogram,
          "From a message's send to its ack (at-most-once: to its delivery), by the channel's clock.",
          stats.send_to_ack.sample(labels));
  out.add("messaging_process_duration_seconds", histogram,
          "How long consume()'s handler took per message, its ack included.",
          stats.handler_duration.sample(labels));
  if (fifo) {
    add("courier_channel_groups", gauge, "FIFO message groups holding at least one message.",
        static_cast<double>(stats.groups));
    add("courier_channel_groups_in_flight", gauge,
        "FIFO message groups whose head is delivered and not yet settled.",
        static_cast<double>(stats.in_flight));
  }
}

}  // namespace detail
}  // namespace v1
}  // namespace courier
