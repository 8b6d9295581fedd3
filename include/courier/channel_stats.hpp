// A channel's counters, for tests, dashboards and the benchmark.
#pragma once

#include "courier/latency_histogram.hpp"

#include <chrono>
#include <cstddef>
#include <cstdint>

namespace courier {
inline namespace v1 {

struct channel_stats {
  std::uint64_t accepted = 0;    // sends that queued a new message
  std::uint64_t duplicates = 0;  // sends answered from the dedup window
  std::uint64_t deliveries = 0;  // messages handed to consumers, redeliveries included
  std::uint64_t acked = 0;
  std::uint64_t dead_lettered = 0;
  std::uint64_t redeliveries = 0;        // deliveries of a message delivered before
  std::uint64_t nacked = 0;              // deliveries given back by nack()
  std::uint64_t visibility_expired = 0;  // deliveries whose visibility timeout ran out unsettled
  std::size_t waiting = 0;               // accepted, not yet acked or dead-lettered
  std::size_t in_flight = 0;
  std::size_t groups = 0;  // FIFO: message groups holding a message (one at most in flight each)
  // How long ago the message first in line to be received was sent (a
  // redelivered one joins the back of the line); zero when none is ready.
  // By the channel's clock.
  std::chrono::nanoseconds oldest_ready_age{0};
  // From send to ack (at-most-once: to delivery), by the channel's clock
  // (the default coarse clock ticks every few ms: fine for these buckets).
  latency_histogram send_to_ack = {};
  // How long consume()'s handler took per message, by steady_clock;
  // recorded only while the channel has a metrics registry.
  latency_histogram handler_duration = {};
};

}  // namespace v1
}  // namespace courier
