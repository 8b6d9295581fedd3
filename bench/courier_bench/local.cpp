// The in-process and durable (SQLite) scenarios.
#include "courier/bus.hpp"
#include "courier/channel.hpp"
#include "courier/idempotent_store.hpp"
#include "courier/sqlite/durable.hpp"
#include "scenarios.hpp"

#include <fmt/format.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace courier_bench {

namespace {

using namespace std::chrono_literals;

constexpr std::size_t send_batch = 64;
constexpr std::size_t receive_batch = 32;
// Short, so lost acks and expired deliveries come back within the run.
constexpr auto visibility = 200ms;
// A run that makes no progress for this long is stopped; what is missing is lost.
constexpr auto stall_limit = 30s;

double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

// at-most-once in-process: bus.post, one observer on the bus's worker.
result run_bus(const settings& chosen, const progress_fn& progress) {
  const std::size_t count = chosen.messages;
  ledger book(count, chosen.groups);
  fault_dice_set faults(chosen.faults);
  std::atomic<std::size_t> thrown{0};
  courier::bus bus({.on_error = [&](const courier::async_error&) { thrown.fetch_add(1); }});
  auto observer = bus.subscribe<bench_message>([&](const bench_message& message) {
    if (faults.failure.roll()) {
      book.fault();
      throw std::runtime_error("injected consumer failure");  // at-most-once: this one is gone
    }
    book.applied(message.number, message.sent_ns);
  });
  const auto start = std::chrono::steady_clock::now();
  const pacer pace(chosen.rate);
  for (std::size_t n = 0; n < count; ++n) {
    pace.wait(n);
    const int times = faults.duplicate.roll() ? 2 : 1;
    if (times == 2) book.fault();
    for (int i = 0; i < times; ++i) {
      book.sent(n);
      bus.post(bench_message{n, ledger::now_ns()});
    }
    if (n % 4096 == 0) progress(book.done());
  }
  bus.drain();
  const double seconds = seconds_since(start);
  return book.verdict(level::at_most_once, seconds);
}

// Every other level (and all of them on SQLite): one producer sending in
// batches, one consumer receiving in batches, faults injected around the
// consumer's effect.
result run_channel(level guarantee, const settings& chosen, const progress_fn& progress) {
  const std::size_t count = chosen.messages;
  const bool keyed = guarantee == level::exactly_once || guarantee == level::fifo;
  const bool acked = guarantee != level::at_most_once;
  std::shared_ptr<courier::sqlite::store> store;
  std::filesystem::path file;
  courier::channel_options<bench_message> options{
      .ordering = guarantee == level::fifo ? courier::ordering::fifo : courier::ordering::none,
      .dedup_window = keyed ? std::chrono::milliseconds(5min) : std::chrono::milliseconds::zero(),
      .visibility_timeout = visibility,
      .max_receives = 10,
      .acknowledge = acked,
  };
  if (chosen.transport == transport::sqlite) {
    file = chosen.file.empty()
               ? std::filesystem::temp_directory_path() / fmt::format("courier_bench_{}.db", ::getpid())
               : std::filesystem::path(chosen.file);
    for (const char* suffix : {"", "-wal", "-shm"}) std::filesystem::remove(file.string() + suffix);
    store = courier::sqlite::store::open(file);
    options.durable = courier::sqlite::durable<bench_message>(store, name_of(guarantee));
  }
  ledger book(count, chosen.groups);
  fault_dice_set faults(chosen.faults);
  courier::memory_idempotent_store applied(std::chrono::hours(1));
  std::atomic<bool> stop{false};
  double seconds = 0;
  {
    courier::channel<bench_message> channel(std::move(options));

    // The consumer's effect: record the message; for the keyed levels through
    // an idempotent store, as exactly-once asks of a consumer.
    auto apply = [&](courier::delivery<bench_message>& item) -> bool {
      const bench_message& message = item.message();
      if (!keyed) {
        book.applied(message.number, message.sent_ns);
        return true;
      }
      const auto outcome = applied.apply_once(std::to_string(message.number),
                                              [&] { book.applied(message.number, message.sent_ns); });
      return outcome != courier::apply_outcome::busy;
    };
    std::thread consumer([&] {
      std::vector<courier::receipt> receipts;
      while (!stop.load(std::memory_order_acquire)) {
        auto batch = channel.receive(receive_batch, 50ms);
        receipts.clear();
        for (auto& item : batch) {
          try {
            if (acked && faults.failure.roll()) {
              book.fault();
              item.nack();  // the handler threw: delivered again
              continue;
            }
            if (acked && faults.expired.roll()) {
              book.fault();
              item.extend(0ms);  // its visibility ends now, while the consumer still works on it
            }
            if (!apply(item)) {
              item.nack();  // busy: another delivery of it is being applied
              continue;
            }
            if (acked && faults.lost_ack.roll()) {
              book.fault();
              item.let_expire();  // applied, ack lost: back after the visibility timeout
              continue;
            }
            if (acked) receipts.push_back(item.receipt());
          } catch (const courier::error&) {
            // A nack or extend of a delivery whose visibility ran out: it is
            // someone else's now.
          }
        }
        if (!receipts.empty()) channel.ack(receipts);  // stale ones (expired) are refused, harmlessly
      }
    });

    const auto start = std::chrono::steady_clock::now();
    const pacer pace(chosen.rate);
    // Paced, each message goes when it is due; unpaced, in batches.
    const std::size_t batch_size = pace.paced() ? 1 : send_batch;
    std::vector<std::pair<bench_message, courier::send_options>> batch;
    auto flush = [&] {
      if (batch.empty()) return;
      channel.send_batch(std::move(batch));
      batch = {};
    };
    for (std::size_t n = 0; n < count; ++n) {
      pace.wait(n);
      courier::send_options send{.group = guarantee == level::fifo ? std::to_string(n % chosen.groups) : "",
                                 .idempotency_key = keyed ? std::to_string(n) : ""};
      const int times = faults.duplicate.roll() ? 2 : 1;
      if (times == 2) book.fault();
      for (int i = 0; i < times; ++i) {
        book.sent(n);
        batch.emplace_back(bench_message{n, ledger::now_ns()}, send);
      }
      if (batch.size() >= batch_size) flush();
      if (n % 4096 == 0) progress(book.done());
    }
    flush();
    // Dead letters count as accounted for (not lost); collect them as they come.
    std::thread dead_collector([&] {
      if (!acked) return;
      while (!stop.load(std::memory_order_acquire)) {
        for (auto& letter : channel.dead_letters().receive(64, 50ms)) {
          book.dead_lettered(letter.message().number);
          letter.ack();
        }
      }
    });
    seconds = book.wait_for_all(start, stall_limit, progress);
    stop.store(true, std::memory_order_release);
    consumer.join();
    dead_collector.join();
  }
  store.reset();
  if (!file.empty() && chosen.file.empty()) {
    for (const char* suffix : {"", "-wal", "-shm"}) std::filesystem::remove(file.string() + suffix);
  }
  return book.verdict(guarantee, seconds);
}

}  // namespace

result run_local(level guarantee, const settings& chosen, const progress_fn& progress) {
  result out = guarantee == level::at_most_once && chosen.transport == transport::in_process
                   ? run_bus(chosen, progress)
                   : run_channel(guarantee, chosen, progress);
  out.transport = name_of(chosen.transport);
  return out;
}

}  // namespace courier_bench
