// The scenarios courier-bench runs, one function per transport. Each runs
// one guarantee level with the settings' faults, checks it with a ledger,
// and returns the result.
#pragma once

#include "courier/detail/mix64.hpp"
#include "courier/testing/fault_dice.hpp"
#include "ledger.hpp"
#include "settings.hpp"

#include <boost/describe.hpp>

#include <chrono>
#include <thread>

#include <cstdint>
#include <functional>
#include <string>

namespace courier_bench {

// What every scenario sends: which message it is, and when it was sent.
struct bench_message {
  std::uint64_t number = 0;
  std::int64_t sent_ns = 0;
};
BOOST_DESCRIBE_STRUCT(bench_message, (), (number, sent_ns))

// One dice per kind of fault, each seeded from the run's seed and its kind,
// so that changing one rate does not reshuffle the others.
struct fault_dice_set {
  explicit fault_dice_set(const fault_rates& rates)
      : duplicate(dice(rates.duplicate_send, rates.seed, 0)),
        failure(dice(rates.consumer_failure, rates.seed, 1)),
        lost_ack(dice(rates.lost_ack, rates.seed, 2)),
        expired(dice(rates.expired, rates.seed, 3)),
        dropped(dice(rates.dropped, rates.seed, 4)) {}
  courier::testing::fault_dice duplicate, failure, lost_ack, expired, dropped;

 private:
  static courier::testing::fault_dice dice(double rate, std::uint64_t seed, std::uint64_t kind) {
    return courier::testing::fault_dice::rate(rate, courier::detail::mix64(seed) ^ courier::detail::mix64(kind + 1));
  }
};

// Holds a producer to a rate: wait(n) returns when message n is due.
class pacer {
 public:
  explicit pacer(double per_second) : per_second_(per_second), start_(std::chrono::steady_clock::now()) {}
  bool paced() const { return per_second_ > 0; }
  void wait(std::size_t n) const {
    if (per_second_ <= 0) return;
    const auto due = start_ + std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                                  std::chrono::duration<double>(static_cast<double>(n) / per_second_));
    for (auto now = std::chrono::steady_clock::now(); now < due; now = std::chrono::steady_clock::now()) {
      // Sleep most of a long wait; spin the last stretch (a sleep overshoots it).
      if (due - now > std::chrono::microseconds(200)) std::this_thread::sleep_for(due - now - std::chrono::microseconds(100));
    }
  }

 private:
  double per_second_;
  std::chrono::steady_clock::time_point start_;
};

// Called about every 100 ms while a scenario runs: messages done so far.
using progress_fn = std::function<void(std::size_t done)>;

// In-process: at-most-once on a courier::bus (post), the others on a
// courier::channel; with transport::sqlite, every level on a durable channel.
result run_local(level guarantee, const settings& chosen, const progress_fn& progress);

// Over SQS (sqs::channel on a queue the run creates and deletes).
result run_sqs(level guarantee, const settings& chosen, const progress_fn& progress);

// Over WebSocket (a courier::ws::server and two clients on loopback).
result run_ws(level guarantee, const settings& chosen, const progress_fn& progress);

}  // namespace courier_bench
