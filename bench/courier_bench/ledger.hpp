// What a scenario sent and what its consumers applied, and the verdict:
// lost, duplicated, reordered, dead-lettered, and whether the scenario's
// guarantee held. Thread-safe: consumers record from several threads.
#pragma once

#include "settings.hpp"

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace courier_bench {

// One scenario's figures, as the table, the JSON and the plot show them.
struct result {
  std::string scenario;  // e.g. "fifo"
  std::string transport;
  std::size_t messages = 0;
  double seconds = 0;
  double per_second = 0;
  double p50_us = 0;
  double p99_us = 0;
  double p999_us = 0;
  std::uint64_t lost = 0;        // sent, never applied, not dead-lettered
  std::uint64_t duplicated = 0;  // applications beyond the first
  std::uint64_t reordered = 0;   // a group's message applied before an earlier one
  std::uint64_t dead_lettered = 0;
  std::uint64_t faults_injected = 0;
  bool order_checked = false;  // FIFO only: other levels promise no order
  bool held = true;  // the scenario's guarantee
  std::string broken;  // which rule failed, when !held
};

// Messages are numbered 0..count-1; number % groups is the group.
class ledger {
 public:
  ledger(std::size_t count, std::size_t groups)
      : applied_(std::make_unique<std::atomic<std::uint32_t>[]>(count)),
        sends_(count, 0),
        latency_ns_(count, 0),
        last_in_group_(std::make_unique<std::atomic<std::int64_t>[]>(groups)),
        count_(count),
        groups_(groups),
        accounted_(std::make_unique<std::atomic<bool>[]>(count)) {
    for (std::size_t g = 0; g < groups; ++g) last_in_group_[g].store(-1, std::memory_order_relaxed);
  }

  static std::int64_t now_ns() {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(
               std::chrono::steady_clock::now().time_since_epoch())
        .count();
  }

  // The consumer applied message number (sent at sent_ns). Returns false
  // when number is out of range (a foreign message).
  bool applied(std::size_t number, std::int64_t sent_ns) {
    if (number >= count_) return false;
    const std::uint32_t before = applied_[number].fetch_add(1, std::memory_order_relaxed);
    if (before != 0) return true;
    latency_ns_[number] = now_ns() - sent_ns;  // first application only; one writer per number
    std::atomic<std::int64_t>& last = last_in_group_[number % groups_];
    const auto mine = static_cast<std::int64_t>(number);
    std::int64_t seen = last.load(std::memory_order_relaxed);
    while (true) {
      if (mine <= seen) {
        reordered_.fetch_add(1, std::memory_order_relaxed);
        break;
      }
      if (last.compare_exchange_weak(seen, mine, std::memory_order_relaxed)) break;
    }
    account(number);
    return true;
  }

  // The producer sent number (again, for a duplicate send). One producer.
  void sent(std::size_t number) { ++sends_[number]; }

  void dead_lettered(std::size_t number) {
    if (number >= count_) return;
    {
      std::lock_guard lock(mutex_);
      dead_.push_back(number);
    }
    account(number);
  }

  // At-most-once: the consumer failed after the message left the queue, so
  // it is gone for good. Accounted for (the run need not wait for it); the
  // verdict counts it as lost, which at-most-once allows.
  void gone(std::size_t number) {
    if (number < count_) account(number);
  }

  void fault() { faults_.fetch_add(1, std::memory_order_relaxed); }

  // Messages applied or dead-lettered so far (for progress and completion).
  std::size_t done() const { return accounted_count_.load(std::memory_order_relaxed); }

  // Waits until every message was applied or dead-lettered, or nothing has
  // changed for stall_limit (what is missing then is lost), calling progress
  // meanwhile. Returns the seconds since start.
  double wait_for_all(std::chrono::steady_clock::time_point start, std::chrono::milliseconds stall_limit,
                      const std::function<void(std::size_t)>& progress) const;

  // The verdict for level, after the run.
  result verdict(level guarantee, double seconds) const;

 private:
  void account(std::size_t number) {
    if (!accounted_[number].exchange(true, std::memory_order_relaxed)) {
      accounted_count_.fetch_add(1, std::memory_order_relaxed);
    }
  }

  std::unique_ptr<std::atomic<std::uint32_t>[]> applied_;
  std::vector<std::uint8_t> sends_;
  std::vector<std::int64_t> latency_ns_;
  std::unique_ptr<std::atomic<std::int64_t>[]> last_in_group_;
  std::size_t count_;
  std::size_t groups_;
  std::atomic<std::uint64_t> reordered_{0};
  std::unique_ptr<std::atomic<bool>[]> accounted_;
  std::atomic<std::size_t> accounted_count_{0};
  std::atomic<std::uint64_t> faults_{0};
  mutable std::mutex mutex_;
  std::vector<std::size_t> dead_;
};

}  // namespace courier_bench
