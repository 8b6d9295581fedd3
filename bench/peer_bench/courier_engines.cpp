// courier's side of the peer benchmark: the in-process channel, and the
// same channel kept in SQLite (group commit: each send_batch waits for the
// transaction holding it, synced to disk).
#include "engines.hpp"

#include "courier/channel.hpp"
#include "courier/sqlite/durable.hpp"

#include <chrono>
#include <filesystem>
#include <stdexcept>
#include <thread>
#include <utility>
#include <vector>

namespace courier_peer_bench {
namespace {

using namespace std::chrono_literals;
using seconds_f = std::chrono::duration<double>;

result run_channel(courier::channel<std::string>& channel, const workload& work) {
  consumer_record record(work.messages);
  const auto start = std::chrono::steady_clock::now();
  producer_thread producer([&] {
    std::vector<std::pair<std::string, courier::send_options>> batch;
    for (std::size_t sent = 0; sent < work.messages;) {
      wait_for_room(record, sent + work.batch - 1, work);
      batch.clear();
      const std::int64_t sent_ns = now_ns();
      for (std::size_t i = 0; i < work.batch && sent < work.messages; ++i, ++sent) {
        batch.emplace_back(body_of(sent, sent_ns),
                           courier::send_options{.group = group_of(sent), .idempotency_key = key_of(sent)});
      }
      for (const auto& each : channel.send_batch(std::move(batch))) {
        if (each.duplicate) throw std::runtime_error("peer bench: courier took a new key for a duplicate");
      }
      batch = {};
    }
  });
  std::vector<courier::receipt> receipts;
  while (record.count() < work.messages && !producer.down()) {
    auto got = channel.receive(work.read, 5s);
    if (got.empty())
      throw std::runtime_error(
          fmt::format("peer bench: courier delivered nothing for 5 s after {}", record.count()));
    receipts.clear();
    for (auto& item : got) receipts.push_back(item.receipt());
    const auto acked = channel.ack(receipts);
    if (!acked.ok()) throw std::runtime_error("peer bench: courier refused an ack");
    const std::int64_t acked_ns = now_ns();
    for (auto& item : got) record.settled(item.message(), acked_ns);
    record.acks_done();
  }
  producer.join();
  const double seconds = seconds_f(std::chrono::steady_clock::now() - start).count();
  return {static_cast<double>(work.messages) / seconds, record.latency_us(0.50), record.latency_us(0.99)};
}

}  // namespace

result run_courier_memory(const workload& work) {
  courier::channel<std::string> channel({.ordering = courier::ordering::fifo});
  return run_channel(channel, work);
}

result run_courier_sqlite(const workload& work, const std::filesystem::path& dir) {
  const auto file = dir / "courier-peer-bench.db";
  std::filesystem::remove(file);
  std::filesystem::remove(file.string() + "-wal");
  result out;
  {
    auto store = courier::sqlite::store::open(file, {.sync = courier::sqlite::sync_policy::group_commit});
    courier::channel<std::string> channel({
        .ordering = courier::ordering::fifo,
        .durable = courier::sqlite::durable<std::string>(store, "peer"),
    });
    out = run_channel(channel, work);
  }
  std::filesystem::remove(file);
  std::filesystem::remove(file.string() + "-wal");
  std::filesystem::remove(file.string() + "-shm");
  return out;
}

}  // namespace courier_peer_bench
