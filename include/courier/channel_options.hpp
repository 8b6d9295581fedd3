// The options and results of courier::channel<T>.
//
// Aggregates with defaults: name only what differs, with designated
// initializers, e.g. {.ordering = ordering::fifo, .max_receives = 5}.
// The defaults follow Amazon SQS FIFO queues (5-minute dedup window,
// 30-second visibility timeout) so that switching a channel to SQS later
// changes no behaviour.
#pragma once

#include "courier/channel_journal.hpp"
#include "courier/clock.hpp"
#include "courier/delivery_receipt.hpp"
#include "courier/message_id.hpp"
#include "courier/metrics.hpp"
#include "courier/trace_context.hpp"
#include "courier/tracing.hpp"

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <limits>
#include <memory>
#include <string>

namespace courier {
inline namespace v1 {

enum class ordering {
  none,  // a standard channel: any consumer may take any visible message
  fifo,  // per message group: one message of a group in flight at a time, in send order
};

template <class T>
struct channel_options {
  courier::ordering ordering = courier::ordering::none;
  // How long an accepted idempotency key (or content hash) keeps deduplicating,
  // counted from its first send, also after the message was acked. Zero turns
  // deduplication off.
  std::chrono::milliseconds dedup_window = std::chrono::minutes(5);
  // When set, a send without an idempotency key uses the SHA-256 of
  // encode(message) as its key (SQS ContentBasedDeduplication).
  std::function<std::string(const T&)> content_dedup = {};
  // How long a delivery is hidden from other consumers before it is
  // delivered again unless acked, nacked or extended.
  std::chrono::milliseconds visibility_timeout = std::chrono::seconds(30);
  // Deliveries after which an unacked message moves to the dead-letter
  // channel instead of being delivered again. Zero: never.
  std::uint32_t max_receives = 0;
  // False: at-most-once. A message is settled (as acked) the moment it is
  // received: no redelivery, and its receipt acks nothing new.
  bool acknowledge = true;
  // Messages accepted and not yet acked or dead-lettered, at most.
  std::size_t capacity = std::numeric_limits<std::size_t>::max();
  // How long send() waits for room before it fails with channel_full.
  std::chrono::milliseconds send_timeout = std::chrono::seconds(30);
  // Empty: coarse_clock (timeouts to a kernel tick, 1-10 ms); steady_clock::
  // shared() for nanoseconds. Tests pass a manual_clock.
  std::shared_ptr<const clock> time_source = {};
  // Empty: the channel lives in memory only. Set (courier::sqlite::durable<T>),
  // the channel recovers its messages and keys from the store when it is
  // made and writes every change to it; send() returns once the message is
  // durable. See channel_journal.hpp.
  durability<T> durable = {};
  // Where the channel reports its figures (courier/metrics.hpp: sends,
  // deliveries, acks, redeliveries, what waits and for how long), read at
  // scrape time: nothing is added to a send or a receive. name is the
  // messaging_destination_name label, required with metrics and unique
  // within the registry. Empty: reported nowhere.
  std::shared_ptr<metrics_registry> metrics = {};
  std::string name = {};
  // Called at each step of a message's life with the OpenTelemetry
  // messaging span names and attributes (courier/tracing.hpp); name is the
  // destination it reports. Empty: no tracing (one null check a step).
  std::shared_ptr<message_tracer> tracer = {};
};

struct send_options {
  std::string group = {};            // required on a FIFO channel
  std::string idempotency_key = {};  // empty: no key (or the content hash, if enabled)
  std::chrono::milliseconds delay = {};
  // Ask for a delivery_receipt in send_result::receipt.
  bool track_delivery = false;
  // With track_delivery: resolve the receipt as timed_out if the message is
  // neither acked nor dead-lettered by then. Zero: wait as long as it takes.
  std::chrono::milliseconds receipt_timeout = {};
  // W3C trace context the message carries to its consumer
  // (delivery::trace()); empty: the thread's current one (trace_scope; a
  // consume() handler's is its message's), else none. A malformed one is
  // refused (invalid_option). See courier/trace_context.hpp.
  trace_context trace = {};
};

struct send_result {
  message_id id;
  std::uint64_t sequence = 0;  // increasing in send order across the channel
  bool duplicate = false;      // the key was seen within the window; nothing new was queued
  delivery_receipt receipt;    // valid() only with send_options::track_delivery
};

enum class ack_result {
  acked,          // this call acknowledged the message
  already_acked,  // this very delivery was acked before; nothing changed
};

struct consume_options {
  std::size_t concurrency = 1;  // consumer threads
  std::size_t batch = 16;       // messages a thread takes per receive
  // How long a thread waits for messages before it checks for stop().
  std::chrono::milliseconds poll = std::chrono::milliseconds(100);
};

}  // namespace v1
}  // namespace courier
