// An SQS channel's figures: what this process did through it (counted by
// the channel), and the queue's depth as SQS reports it (asked for).
#pragma once

#include "courier/latency_histogram.hpp"

#include <cstdint>

namespace courier {
inline namespace v1 {
namespace sqs {

// What this channel object did, since it was made. Other processes on the
// same queue count their own.
struct channel_stats {
  std::uint64_t sent = 0;          // messages SQS accepted (send, send_batch, send_async, async_send)
  std::uint64_t received = 0;      // deliveries SQS handed over that decoded
  std::uint64_t redeliveries = 0;  // of those, ones SQS had delivered before (ApproximateReceiveCount > 1)
  std::uint64_t malformed = 0;     // deliveries that did not decode (left in the queue)
  std::uint64_t acked = 0;         // messages deleted
  std::uint64_t nacked = 0;        // deliveries made visible again by nack()
  latency_histogram handler_duration = {};  // consume()'s handler, with a metrics registry
  // From SQS's SentTimestamp to the delete, for messages this channel
  // acked: SQS's clock against this machine's, so clock skew between them
  // is in it.
  latency_histogram send_to_ack = {};
};

// The queue's depth: GetQueueAttributes' approximate counts, shared by
// every process using the queue.
struct queue_depth {
  std::uint64_t visible = 0;      // ApproximateNumberOfMessages
  std::uint64_t not_visible = 0;  // ApproximateNumberOfMessagesNotVisible: received, not yet deleted
  std::uint64_t delayed = 0;      // ApproximateNumberOfMessagesDelayed
};

}  // namespace sqs
}  // namespace v1
}  // namespace courier
