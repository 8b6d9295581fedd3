// The one workload courier_peer_bench runs on every engine, and what each
// run reports: one producer and one consumer, messages spread over 16
// groups (FIFO within a group), an idempotency key per message, 64-byte
// bodies, every message acked. The producer keeps at most `in_flight`
// messages sent and not yet acked on every engine, so that send->ack
// latency measures the engine, not a queue the producer piled up.
#pragma once

#include <fmt/format.h>

#include <algorithm>
#include <atomic>
#include <charconv>
#include <chrono>
#include <cstdint>
#include <exception>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

namespace courier_peer_bench {

constexpr std::size_t groups = 16;
constexpr std::size_t body_size = 64;

struct workload {
  std::size_t messages = 200'000;
  std::size_t batch = 256;       // messages per send call or pipeline
  std::size_t read = 64;         // messages per receive, fetch or XREADGROUP, at most
  std::size_t in_flight = 4096;  // sent and not yet acked, at most
};

inline std::int64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

inline std::string group_of(std::size_t number) { return std::to_string(number % groups); }
inline std::string key_of(std::size_t number) { return fmt::format("k{}", number); }

// "<number> <send time ns>" padded with dots to 64 bytes: what the consumer
// needs to check the order and to time the message, in the body itself.
inline std::string body_of(std::size_t number, std::int64_t sent_ns) {
  std::string body = fmt::format("{} {} ", number, sent_ns);
  body.resize(body_size, '.');
  return body;
}

struct body_fields {
  std::size_t number = 0;
  std::int64_t sent_ns = 0;
};

inline body_fields read_body(std::string_view body) {
  body_fields out;
  const char* end = body.data() + body.size();
  auto first = std::from_chars(body.data(), end, out.number);
  if (first.ec != std::errc{} || first.ptr == end) throw std::runtime_error("peer bench: a body not ours");
  auto second = std::from_chars(first.ptr + 1, end, out.sent_ns);
  if (second.ec != std::errc{}) throw std::runtime_error("peer bench: a body not ours");
  return out;
}

// What the consumer saw: it checks every message once and in its group's
// order, and times each from its send to the ack that settled it.
class consumer_record {
 public:
  explicit consumer_record(std::size_t messages)
      : next_in_group_(groups, 0), latencies_(), seen_(messages, false) {
    latencies_.reserve(messages);
  }

  // One message, as its ack goes out at acked_ns.
  void settled(std::string_view body, std::int64_t acked_ns) {
    const body_fields fields = read_body(body);
    if (fields.number >= seen_.size())
      throw std::runtime_error(fmt::format("peer bench: message {} was never sent", fields.number));
    if (seen_[fields.number])
      throw std::runtime_error(fmt::format("peer bench: message {} delivered twice", fields.number));
    seen_[fields.number] = true;
    const std::size_t group = fields.number % groups;
    const std::size_t position = fields.number / groups;
    if (position != next_in_group_[group]) {
      throw std::runtime_error(
          fmt::format("peer bench: group {} got message {} out of order", group, fields.number));
    }
    ++next_in_group_[group];
    latencies_.push_back(acked_ns - fields.sent_ns);
  }

  // After each ack call: tells the producer how far the acks are.
  void acks_done() {
    acked.store(latencies_.size(), std::memory_order_release);
    acked.notify_all();
  }

  std::size_t count() const noexcept { return latencies_.size(); }

  // p in [0, 1], microseconds.
  double latency_us(double p) {
    if (latencies_.empty()) return 0;
    std::sort(latencies_.begin(), latencies_.end());
    const auto at =
        std::min(latencies_.size() - 1, static_cast<std::size_t>(p * static_cast<double>(latencies_.size())));
    return static_cast<double>(latencies_[at]) / 1000.0;
  }

  // Read by the producer: it sends no further than in_flight past this.
  std::atomic<std::size_t> acked{0};

 private:
  std::vector<std::size_t> next_in_group_;
  std::vector<std::int64_t> latencies_;
  std::vector<bool> seen_;
};

// The producer's side of the in-flight bound.
inline void wait_for_room(const consumer_record& record, std::size_t sent, const workload& work) {
  for (std::size_t seen = record.acked.load(std::memory_order_acquire); sent >= seen + work.in_flight;
       seen = record.acked.load(std::memory_order_acquire)) {
    record.acked.wait(seen, std::memory_order_acquire);
  }
}

// The producer's thread: what it throws is kept, the consumer sees it went
// down (and stops waiting for messages that will not come), and join()
// rethrows it on the benchmark's thread.
class producer_thread {
 public:
  template <class Produce>
  explicit producer_thread(Produce produce)
      : thread_([this, produce = std::move(produce)]() mutable {
          try {
            produce();
          } catch (...) {
            failure_ = std::current_exception();
            down_.store(true, std::memory_order_release);
          }
        }) {}
  producer_thread(const producer_thread&) = delete;
  producer_thread& operator=(const producer_thread&) = delete;
  ~producer_thread() {
    if (thread_.joinable()) thread_.join();
  }

  bool down() const noexcept { return down_.load(std::memory_order_acquire); }

  void join() {
    thread_.join();
    if (failure_) std::rethrow_exception(failure_);
  }

 private:
  std::exception_ptr failure_;  // read after the thread ended
  std::atomic<bool> down_{false};
  std::thread thread_;  // last: starts once the rest exists
};

struct result {
  double per_second = 0;
  double p50_us = 0;
  double p99_us = 0;
};

}  // namespace courier_peer_bench
