// The WebSocket scenarios: a courier::ws::server and two courier::ws::client
// on loopback. The producer is a client publishing to a topic (with a key
// per message for exactly-once and FIFO, a group per message for FIFO); the
// server puts each accepted publish on its bus; the consumer is a second
// client subscribed to the topic, which applies what on_event hands it.
// at-most-once has no producer client: the server's bus publishes directly,
// as an application's own events do.
//
// Faults: duplicate sends (the producer publishes a message twice with the
// same key: the server answers with a duplicate receipt), dropped
// connections (the consumer's connection cut after a delivery: it resumes).
// Consumer failures, lost acks and expiry belong to the channel transports.
#include "courier/bus.hpp"
#include "courier/ws/client.hpp"
#include "courier/ws/server.hpp"
#include "scenarios.hpp"

#include <fmt/format.h>

#include <chrono>
#include <future>
#include <stdexcept>
#include <thread>
#include <vector>

namespace courier_bench {

namespace {

using namespace std::chrono_literals;

constexpr auto stall_limit = 30s;
constexpr std::size_t publishes_in_flight = 256;  // receipts the producer waits for at most

}  // namespace

result run_ws(level guarantee, const settings& chosen, const progress_fn& progress) {
  if (chosen.faults.consumer_failure > 0 || chosen.faults.lost_ack > 0 || chosen.faults.expired > 0) {
    throw std::runtime_error(
        "--transport ws injects duplicate sends and dropped connections; consumer failures, lost acks and "
        "expiry "
        "are for the channel transports");
  }
  const std::size_t count = chosen.messages;
  const bool keyed = guarantee == level::exactly_once || guarantee == level::fifo;
  const bool fifo = guarantee == level::fifo;
  ledger book(count, chosen.groups);
  fault_dice_set faults(chosen.faults);
  auto& duplicate = faults.duplicate;
  auto& drop = faults.dropped;

  courier::bus bus;
  courier::ws::server server(bus, {.slow_after = count * 2 + 1000, .max_queued = count * 2 + 1000});
  server.topic<bench_message>("bench", {.publish = true, .fifo = fifo, .capacity = count * 2 + 1000});
  server.start();
  const std::string url = fmt::format("ws://127.0.0.1:{}/courier", server.port());

  courier::ws::client consumer({.url = url, .name = "consumer", .backoff_initial = 5ms});
  consumer.on_event([&](const courier::ws::event_frame& event) {
    const auto message = courier::json::decode<bench_message>(event.data);
    book.applied(message.number, message.sent_ns);
    if (drop.roll()) {
      book.fault();
      consumer.drop_connection();  // it reconnects and resumes
    }
  });
  consumer.subscribe({"bench"});
  consumer.connect();
  // The subscription is in effect on the server before anything is published.
  if (!consumer.wait_subscribed(10s)) {
    throw std::runtime_error("ws: the consumer could not connect to " + url + " and subscribe");
  }

  const auto start = std::chrono::steady_clock::now();
  const pacer pace(chosen.rate);
  if (guarantee == level::at_most_once) {
    for (std::size_t n = 0; n < count; ++n) {
      pace.wait(n);
      book.sent(n);
      bus.publish(bench_message{n, ledger::now_ns()});
      if (n % 1024 == 0) progress(book.done());
    }
  } else {
    courier::ws::client producer({.url = url, .name = "producer", .backoff_initial = 5ms});
    producer.connect();
    if (!producer.wait_connected(10s))
      throw std::runtime_error("ws: the producer could not connect to " + url);
    std::deque<std::future<courier::ws::receipt_frame>> receipts;
    auto settle_oldest = [&] {
      receipts.front().get();  // throws with the server's error if a publish was refused
      receipts.pop_front();
    };
    for (std::size_t n = 0; n < count; ++n) {
      pace.wait(n);
      courier::ws::publish_options options;
      if (keyed) options.key = std::to_string(n);
      if (fifo) options.group = std::to_string(n % chosen.groups);
      const int times = keyed && duplicate.roll() ? 2 : 1;
      if (times == 2) book.fault();
      for (int i = 0; i < times; ++i) {
        book.sent(n);
        receipts.push_back(producer.publish("bench", bench_message{n, ledger::now_ns()}, options));
        while (receipts.size() > publishes_in_flight) settle_oldest();
      }
      if (n % 1024 == 0) progress(book.done());
    }
    while (!receipts.empty()) settle_oldest();
  }
  const double seconds = book.wait_for_all(start, stall_limit, progress);
  consumer.close();
  result out = book.verdict(guarantee, seconds);
  out.transport = name_of(transport::ws);
  return out;
}

}  // namespace courier_bench
