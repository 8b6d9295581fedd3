// A seeded, randomized fault run against a FIFO channel, and what it found.
//
// The proof of the channel's guarantees: producers send keyed messages to
// many groups and, like real clients whose response got lost, send some of
// them again with the same key; consumers throw before or after applying a
// message's effect, lose acks, and a chaos thread jumps the (manual) clock
// past visibility timeouts so deliveries expire under consumers' feet. The
// run then checks, against what the producers recorded:
//   lost        a key whose send succeeded but whose effect was never applied
//   applied twice  a key whose effect was applied more than once
//   reordered   a delivery that was not the oldest unacked message of its group
//   after ack   a delivery of a message that had been acked
//   unresolved  a sender receipt still open at the end
//   key mismatch  a retry that got another message id than the first send
// The consumer applies effects through an idempotent store keyed by message
// id (as the channel's exactly-once promise requires), so a redelivery is
// not applied twice; a dedup failure (two ids for one key) would be.
//
// The same function runs in the test suite (10^5 messages) and in the
// benchmark (10^7). Every fault is decided by a fault_dice (the same ones
// applications use through faulty.hpp) seeded from the plan's seed;
// report.seed says which. A dice's decisions are fixed by the seed and the
// roll's number, though which thread makes which roll varies from run to
// run, so a replay injects the same number of faults at the same rolls, not
// necessarily at the same messages.
#pragma once

#include "courier/channel.hpp"
#include "courier/clock.hpp"
#include "courier/testing/fault_dice.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <shared_mutex>
#include <string>
#include <thread>
#include <unordered_map>
#include <unordered_set>
#include <vector>

namespace courier {
inline namespace v1 {
namespace testing {

struct fault_plan {
  std::uint64_t seed = 1;
  std::size_t messages = 100'000;
  std::size_t producers = 4;
  std::size_t consumers = 4;
  std::size_t groups = 64;
  double duplicate_send_rate = 0.05;    // a send is repeated with the same key
  double consumer_failure_rate = 0.02;  // the handler throws (nack), before or after applying
  double lost_ack_rate = 0.01;          // the effect is applied, the ack never sent
  double clock_jump_rate = 0.002;       // per delivery: the clock jumps past the visibility timeout
  bool track_receipts = true;           // every send asks for a delivery receipt
  // Give up (and report stuck messages) if the run takes longer than this.
  std::chrono::seconds time_limit = std::chrono::seconds(300);
};

struct fault_report {
  std::uint64_t seed = 0;
  std::size_t keys = 0;
  std::uint64_t sends = 0;       // including retries
  std::uint64_t duplicates = 0;  // retries answered from the dedup window
  std::uint64_t deliveries = 0;
  std::uint64_t failures_injected = 0;
  std::uint64_t acks_lost = 0;
  std::uint64_t clock_jumps = 0;
  std::uint64_t stale_acks = 0;  // acks refused because the delivery had expired and moved on
  std::uint64_t lost = 0;
  std::uint64_t applied_twice = 0;
  std::uint64_t reordered = 0;
  std::uint64_t delivered_after_ack = 0;
  std::uint64_t unresolved_receipts = 0;
  std::uint64_t key_mismatches = 0;
  bool timed_out = false;
  std::chrono::duration<double> elapsed{};

  bool ok() const noexcept {
    return lost == 0 && applied_twice == 0 && reordered == 0 && delivered_after_ack == 0 &&
           unresolved_receipts == 0 && key_mismatches == 0 && !timed_out;
  }

  std::string describe() const {
    return fmt::format(
        "seed {}: {} keys, {} sends ({} duplicates), {} deliveries; injected {} failures, {} lost acks, "
        "{} clock jumps ({} stale acks); lost {}, applied twice {}, reordered {}, delivered after ack {}, "
        "unresolved receipts {}, key mismatches {}{}; {:.2f} s",
        seed, keys, sends, duplicates, deliveries, failures_injected, acks_lost, clock_jumps, stale_acks,
        lost, applied_twice, reordered, delivered_after_ack, unresolved_receipts, key_mismatches,
        timed_out ? ", TIMED OUT" : "", elapsed.count());
  }
};

namespace detail {

struct fault_message {
  std::size_t key;  // index of the key in the plan's key space
  std::size_t group;
};

// One message group's ledger: what its producer sent, in order, and how far
// its consumers got. Its mutex is held across a send and across an ack, so
// the ledger and the channel change together as far as checks can tell.
struct group_ledger {
  std::mutex mutex;
  std::vector<message_id> sent;  // first-send ids, in send order
  std::size_t acked = 0;         // sent[acked] is the message the group may deliver next
};

// Each kind of fault draws from its own dice, seeded from the plan's seed
// and the kind, so changing one rate does not reshuffle the others.
inline fault_dice dice(double rate, std::uint64_t seed, std::uint64_t kind) {
  return fault_dice::rate(rate, courier::detail::mix64(seed) ^ courier::detail::mix64(kind + 1));
}

}  // namespace detail

// Runs plan and reports what it found. Thread-safe; starts its own threads.
inline fault_report run_channel_faults(const fault_plan& plan) {
  using namespace std::chrono_literals;
  using detail::fault_message;
  const auto started = std::chrono::steady_clock::now();
  const auto visibility = 30s;
  auto time = std::make_shared<manual_clock>();
  channel<fault_message> queue({
      .ordering = ordering::fifo,
      .dedup_window = std::chrono::hours(24 * 365),  // manual time: keep every key for the whole run
      .visibility_timeout = visibility,
      .time_source = time,
  });

  const std::size_t group_count = std::max<std::size_t>(plan.groups, 1);
  const std::size_t producer_count = std::max<std::size_t>(plan.producers, 1);
  std::vector<detail::group_ledger> ledgers(group_count);
  std::vector<delivery_receipt> receipts(plan.track_receipts ? plan.messages : 0);

  std::mutex store_mutex;  // the consumers' idempotent store
  std::unordered_set<std::uint64_t> applied_ids;
  std::vector<std::uint32_t> applied_per_key(plan.messages, 0);
  std::unordered_set<std::uint64_t> acked_ids;

  std::atomic<std::uint64_t> sends{0}, duplicates{0}, key_mismatches{0}, deliveries{0}, failures{0},
      acks_lost{0}, jumps{0}, stale{0}, reordered{0}, after_ack{0};
  std::atomic<std::size_t> producers_left{producer_count};
  std::atomic<bool> stop{false};
  // Time moves only under this lock held exclusively; a consumer holds it
  // shared from its receive until it has checked what it got, so no delivery
  // can expire (and be acked by someone else) in between and fake a fault.
  std::shared_mutex time_lock;
  auto let_time_pass = [&](std::chrono::steady_clock::duration step) {
    std::unique_lock exclusive(time_lock);
    time->advance(step);
  };

  // Producer p sends keys p, p + P, p + 2P, ...; key k goes to group k % G.
  // Order within a group is the order of the group's sends, which the
  // ledger's mutex serializes (and records) whichever producers share it.
  auto repeat = detail::dice(plan.duplicate_send_rate, plan.seed, 0);
  auto fail = detail::dice(plan.consumer_failure_rate, plan.seed, 1);
  auto lose_ack = detail::dice(plan.lost_ack_rate, plan.seed, 2);
  auto jump = detail::dice(plan.clock_jump_rate, plan.seed, 3);
  auto after_applying = detail::dice(0.5, plan.seed, 4);  // a failure before or after the effect

  auto produce = [&](std::size_t p) {
    for (std::size_t key = p; key < plan.messages; key += producer_count) {
      const std::size_t group = key % group_count;
      const std::string key_text = fmt::format("key-{}", key);
      const send_options options{.group = fmt::format("group-{}", group),
                                 .idempotency_key = key_text,
                                 .track_delivery = plan.track_receipts};
      auto& ledger = ledgers[group];
      std::lock_guard lock(ledger.mutex);
      const send_result first = queue.send(fault_message{key, group}, options);
      sends.fetch_add(1, std::memory_order_relaxed);
      if (!first.duplicate) ledger.sent.push_back(first.id);
      if (plan.track_receipts) receipts[key] = first.receipt;
      while (repeat.roll()) {  // the response "got lost": the client retries with the same key
        const send_result again = queue.send(fault_message{key, group}, options);
        sends.fetch_add(1, std::memory_order_relaxed);
        if (again.duplicate) duplicates.fetch_add(1, std::memory_order_relaxed);
        if (!again.duplicate || again.id != first.id) key_mismatches.fetch_add(1, std::memory_order_relaxed);
      }
    }
    producers_left.fetch_sub(1, std::memory_order_acq_rel);
  };

  auto apply = [&](const delivery<fault_message>& item) {
    std::lock_guard lock(store_mutex);
    if (applied_ids.insert(item.id().value).second) ++applied_per_key[item.message().key];
  };

  auto consume = [&] {
    while (!stop.load(std::memory_order_acquire)) {
      std::vector<delivery<fault_message>> batch;
      {
        std::shared_lock shared(time_lock);
        batch = queue.receive(8, 1ms);
        for (const auto& item : batch) {
          deliveries.fetch_add(1, std::memory_order_relaxed);
          auto& ledger = ledgers[item.message().group];
          {
            std::lock_guard lock(ledger.mutex);
            if (ledger.acked >= ledger.sent.size() || ledger.sent[ledger.acked] != item.id()) {
              reordered.fetch_add(1, std::memory_order_relaxed);
            }
          }
          std::lock_guard lock(store_mutex);
          if (acked_ids.contains(item.id().value)) after_ack.fetch_add(1, std::memory_order_relaxed);
        }
      }
      if (batch.empty()) {
        // Nothing visible: what is left is held by lost acks. Let time pass.
        if (producers_left.load(std::memory_order_acquire) == 0) let_time_pass(visibility + 1s);
        continue;
      }
      for (auto& item : batch) {
        auto& ledger = ledgers[item.message().group];
        if (jump.roll()) {  // the consumer stalls (GC pause, swap): its visibility runs out
          jumps.fetch_add(1, std::memory_order_relaxed);
          let_time_pass(visibility + 1s);
        }
        if (fail.roll()) {
          failures.fetch_add(1, std::memory_order_relaxed);
          if (after_applying.roll()) apply(item);  // failed after applying, before acking
          try {
            item.nack();
          } catch (const error&) {
            stale.fetch_add(1, std::memory_order_relaxed);
          }
          continue;
        }
        apply(item);
        if (lose_ack.roll()) {
          acks_lost.fetch_add(1, std::memory_order_relaxed);
          continue;
        }
        std::lock_guard lock(ledger.mutex);
        try {
          if (item.ack() == ack_result::acked) {
            ++ledger.acked;
            std::lock_guard store(store_mutex);
            acked_ids.insert(item.id().value);
          }
        } catch (const error&) {
          stale.fetch_add(1, std::memory_order_relaxed);  // expired and delivered again meanwhile
        }
      }
    }
  };

  std::vector<std::thread> threads;
  for (std::size_t p = 0; p < producer_count; ++p) threads.emplace_back(produce, p);
  for (std::size_t c = 0; c < std::max<std::size_t>(plan.consumers, 1); ++c) threads.emplace_back(consume);

  fault_report report;
  const auto deadline = started + plan.time_limit;
  for (;;) {
    const bool produced = producers_left.load(std::memory_order_acquire) == 0;
    if (produced && queue.stats().waiting == 0) break;
    if (std::chrono::steady_clock::now() > deadline) {
      report.timed_out = true;
      break;
    }
    std::this_thread::sleep_for(5ms);  // real time: the run's own pace is what is waited for
  }
  stop.store(true, std::memory_order_release);
  for (auto& thread : threads) thread.join();

  report.seed = plan.seed;
  report.keys = plan.messages;
  report.sends = sends;
  report.duplicates = duplicates;
  report.deliveries = deliveries;
  report.failures_injected = failures;
  report.acks_lost = acks_lost;
  report.clock_jumps = jumps;
  report.stale_acks = stale;
  report.reordered = reordered;
  report.delivered_after_ack = after_ack;
  report.key_mismatches = key_mismatches;
  for (std::size_t key = 0; key < plan.messages; ++key) {
    if (applied_per_key[key] == 0) ++report.lost;
    if (applied_per_key[key] > 1) ++report.applied_twice;
  }
  for (const auto& receipt : receipts) {
    if (!receipt.valid() || !receipt.peek()) ++report.unresolved_receipts;
  }
  report.elapsed = std::chrono::steady_clock::now() - started;
  return report;
}

}  // namespace testing
}  // namespace v1
}  // namespace courier
