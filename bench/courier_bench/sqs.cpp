// The SQS scenarios: courier::sqs::channel on a queue this run creates (and
// deletes), one producer sending batches of 10, one consume() thread.
#include "courier/dynamodb/idempotent_store.hpp"
#include "courier/idempotent_store.hpp"
#include "courier/sqs/channel.hpp"
#include "courier/sqs/client.hpp"
#include "scenarios.hpp"

#include <fmt/format.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <memory>
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

// The run's DynamoDB table of applied keys, deleted however the run ends.
struct scoped_table {
  scoped_table(courier::dynamodb::client& dynamo, std::string name) : dynamo(dynamo), name(std::move(name)) {
    courier::dynamodb::idempotent_store::create_table(dynamo, this->name);
  }
  ~scoped_table() {
    try {
      dynamo.delete_table(name);
    } catch (const std::exception& e) {
      fmt::print(stderr, "courier-bench: could not delete table {}: {}\n", name, e.what());
    }
  }
  courier::dynamodb::client& dynamo;
  std::string name;
};

// Where the exactly-once levels keep applied keys: in memory, or in a
// DynamoDB table made for the run (its endpoint AWS_ENDPOINT_URL_DYNAMODB,
// else the SQS endpoint: moto serves both).
struct applied_keys {
  applied_keys(const settings& chosen, const std::string& run_name) {
    if (chosen.store != "dynamodb") {
      store = std::make_unique<courier::memory_idempotent_store>(std::chrono::hours(1));
      return;
    }
    courier::aws::config where;
    if (std::getenv("AWS_ENDPOINT_URL_DYNAMODB") == nullptr) where.endpoint = chosen.endpoint;
    dynamo = std::make_unique<courier::dynamodb::client>(
        courier::dynamodb::client_options{.settings = where, .connect_timeout = 2s});
    table = std::make_unique<scoped_table>(*dynamo, run_name + "-applied");
    store = std::make_unique<courier::dynamodb::idempotent_store>(
        *dynamo, courier::dynamodb::store_options{.table = table->name,
                                                  .lease = std::chrono::seconds(visibility_seconds)});
  }
  std::unique_ptr<courier::dynamodb::client> dynamo;
  std::unique_ptr<scoped_table> table;
  std::unique_ptr<courier::idempotent_store> store;
};

}  // namespace

result run_sqs(level guarantee, const settings& chosen, const progress_fn& progress) {
  courier::sqs::client sqs({.settings = {.endpoint = chosen.endpoint}, .connect_timeout = 2s});
  const bool fifo = guarantee == level::fifo;
  const bool keyed = guarantee == level::exactly_once || fifo;
  const bool acked = guarantee != level::at_most_once;
  const std::string run_name = fmt::format("courier-bench-{}-{}", ::getpid(), name_of(guarantee));
  scoped_queue queue(sqs, run_name + (fifo ? ".fifo" : ""), fifo);
  courier::sqs::channel<bench_message> channel(sqs, {.queue_url = queue.url});

  const std::size_t count = chosen.messages;
  ledger book(count, chosen.groups);
  fault_dice_set faults(chosen.faults);
  auto& duplicate = faults.duplicate;
  auto& failure = faults.failure;
  auto& lost_ack = faults.lost_ack;
  auto& expired = faults.expired;
  applied_keys keys(chosen, run_name);
  courier::idempotent_store& applied = *keys.store;

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
      if (applied.apply_once(std::to_string(message.number), [&] {
            book.applied(message.number, message.sent_ns);
          }) == courier::apply_outcome::busy) {
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
          throw std::runtime_error(fmt::format("SendMessageBatch refused a message: {} {}",
                                               outcome.refused->code, outcome.refused->message));
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
  out.transport = chosen.store == "dynamodb" ? "sqs+dynamodb" : name_of(transport::sqs);
  return out;
}

}  // namespace courier_bench
