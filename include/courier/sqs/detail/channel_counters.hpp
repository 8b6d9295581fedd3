// What an sqs::channel counts as it works: each count is a relaxed atomic
// add next to an HTTP request, which costs a thousand times more.
#pragma once

#include "courier/detail/handler_timings.hpp"
#include "courier/sqs/channel_stats.hpp"

#include "courier/sqs/client.hpp"

#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <string>

namespace courier {
inline namespace v1 {
namespace sqs {
namespace detail {

struct channel_counters {
  std::atomic<std::uint64_t> sent{0};
  std::atomic<std::uint64_t> received{0};
  std::atomic<std::uint64_t> redeliveries{0};
  std::atomic<std::uint64_t> malformed{0};
  std::atomic<std::uint64_t> acked{0};
  std::atomic<std::uint64_t> nacked{0};
  courier::detail::handler_timings handler_timings;
  courier::detail::shared_histogram send_to_ack;

  // A delivery of message was deleted now.
  void acked_message(const received_message& message) noexcept {
    const std::string sent = message.system_attribute("SentTimestamp");
    if (sent.empty()) return;
    const auto since_epoch = std::chrono::system_clock::now().time_since_epoch();
    const auto sent_ms = std::chrono::milliseconds(std::strtoll(sent.c_str(), nullptr, 10));
    send_to_ack.record(std::chrono::duration_cast<std::chrono::nanoseconds>(since_epoch - sent_ms));
  }

  static void add(std::atomic<std::uint64_t>& count, std::uint64_t n = 1) noexcept {
    count.fetch_add(n, std::memory_order_relaxed);
  }

  channel_stats read() const {
    channel_stats out;
    out.sent = sent.load(std::memory_order_relaxed);
    out.received = received.load(std::memory_order_relaxed);
    out.redeliveries = redeliveries.load(std::memory_order_relaxed);
    out.malformed = malformed.load(std::memory_order_relaxed);
    out.acked = acked.load(std::memory_order_relaxed);
    out.nacked = nacked.load(std::memory_order_relaxed);
    handler_timings.add_to(out.handler_duration);
    send_to_ack.add_to(out.send_to_ack);
    return out;
  }
};

}  // namespace detail
}  // namespace sqs
}  // namespace v1
}  // namespace courier
