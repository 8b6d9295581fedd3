// The SQS scenarios: courier::sqs::channel on a queue this run creates (and
// deletes), one producer sending batches of 10, one consume() thread.
#include "courier/idempotent_store.hpp"
#include "courier/sqs/channel.hpp"
#include "courier/sqs/client.hpp"
#include "scenarios.hpp"

#include <fmt/format.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace courier_bench {

namespace {

using namespace std::chrono_literals;

// Seconds, SQS's unit: lost acks and expired deliveries come back after it.
constexpr int visibility_seconds = 2;
constexpr auto stall_limit = 60s;

// Deletes the run's queue however the scenario ends.
struct scoped_queue {
  scoped_queue(courier::sqs::client& sqs, std::string name, bool fifo) : sqs(sqs) {
    std::map<std::string, std::string> attributes{{"VisibilityTimeout", std::to_string(visibility_seconds)}};
    if (fifo) attributes["FifoQueue"] = "true";
    url = sqs.create_queue(name, attributes);
  }
  ~scoped_queue() {
    try {
      sqs.delete_queue(url);
    } catch (const std::exception& e) {
      fmt::print(stderr, "courier-bench: could not delete {}: {}\n", url, e.what());
    }
  }
  courier::sqs::client& sqs;
  std::string url;
};

}  // namespace

result run_sqs(level guarantee, const settings& chosen, const progress_fn& progress) {
  courier::sqs::client sqs({.settings = {.endpoint = chosen.endpoint}, .connect_timeout = 2s});
  const bool fifo = guarantee == level::fifo;
  const bool keyed = guarantee == level::exactly_once || fifo;
  const bool acked = guarantee != level::at_most_once;
  scoped_queue queue(sqs,
                     fmt::format("courier-bench-{}-{}{}", ::getpid(), name_of(guarantee), fifo ? ".fifo" : ""),
                     fifo);
  courier::sqs::channel<bench_message> channel(sqs, {.queue_url = queue.url});

  const std::size_t count = chosen.messages;
  ledger book(count, chosen.groups);
  fault_dice_set faults(chosen.faults);
  auto& duplicate = faults.duplicate;
  auto& failure = faults.failure;
  auto& lost_ack = faults.lost_ack;
  auto& expired = faults.expired;
  courier::memory_idempotent_store applied(std::chrono::hours(1));

  auto handler = [&](courier::sqs::delivery<bench_message>& item) {
    const bench_message message = item.message();
    if (!acked) item.ack();  // at-most-once: gone from the queue before it is applied
    if (failure.roll()) {
      book.fault();
      if (!acked) book.gone(message.number);
      throw std::runtime_error("injected consumer failure");
    }
    if (acked && expired.roll()) {
      book.fault();
      item.extend(0s);  // visible again while this consumer still works on it
    }
    if (keyed) {
      if (applied.apply_once(std::to_string(message.number), [&] { book.applied(message.number, message.sent_ns); }) ==
          courier::apply_outcome::busy) {
        item.nack(1s);
        return;
      }
    } else {
      book.applied(message.number, message.sent_ns);
    }
    if (acked && lost_ack.roll()) {
      book.fault();
      item.let_expire();
    }
  };
  auto quiet = [](const std::string&, std::exception_ptr) {};  // injected failures are counted, not logged

  const auto start = std::chrono::steady_clock::now();
  double seconds = 0;
  {
    auto consumer = channel.consume(handler, {.concurrency = 1, .batch = 10}, quiet);
    std::vector<std::pair<bench_message, courier::send_options>> batch;
    auto flush = [&] {
      if (batch.empty()) return;
      for (const auto& outcome : channel.send_batch(batch)) {
        if (outcome.refused) {
          throw std::runtime_error(fmt::format("SendMessageBatch refused a message: {} {}", outcome.refused->code,
                                               outcome.refused->message));
        }
      }
      batch.clear();
    };
    const pacer pace(chosen.rate);
    for (std::size_t n = 0; n < count; ++n) {
      pace.wait(n);
      courier::send_options send{.group = fifo ? std::to_string(n % chosen.groups) : "",
                                      .idempotency_key = fifo ? std::to_string(n) : ""};
      const int times = duplicate.roll() ? 2 : 1;
      if (times == 2) book.fault();
      for (int i = 0; i < times; ++i) {
        book.sent(n);
        batch.emplace_back(bench_message{n, ledger::now_ns()}, send);
        if (batch.size() == 10 || pace.paced()) flush();
      }
      progress(book.done());
    }
    flush();
    seconds = book.wait_for_all(start, stall_limit, progress);
  }
  result out = book.verdict(guarantee, seconds);
  out.transport = name_of(transport::sqs);
  return out;
}

}  // namespace courier_bench
