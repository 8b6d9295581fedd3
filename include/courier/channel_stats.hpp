// A channel's counters, for tests, dashboards and the benchmark.
#pragma once

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
  std::size_t waiting = 0;  // accepted, not yet acked or dead-lettered
  std::size_t in_flight = 0;
};

}  // namespace v1
}  // namespace courier
