// One host of the exactly-once proof (exactly_once_across_processes.py): a
// process that sends keyed parcel events into an SQS FIFO queue, or consumes
// them and applies each as DynamoDB writes through the shared store, with
// faults of its own. The driver kills consumers with SIGKILL and starts new
// ones; boto3 reads the effects at the end.
//
//   exactly_once_peer setup   --queue NAME --store TABLE --effects TABLE
//   exactly_once_peer send    --queue-url URL --messages N --groups G
//   exactly_once_peer consume --queue-url URL --store TABLE --effects TABLE
//                             --name NAME --seed S [--visibility SECONDS]
//                             [--stall-rate P] [--throw-rate P]
// The endpoint, region and keys come from the environment (AWS_ENDPOINT_URL,
// ...), as for any AWS program. A consumer runs until SIGTERM or SIGKILL.
//
// Each event's effect, in one transaction with the key's applied record:
//   effects[parcel#<group>#<seq>].applications += 1   (a second application shows)
//   effects[group#<group>].applied += [seq]           (the order applications happened in)
#include "courier/dynamodb/idempotent_store.hpp"
#include "courier/sqs/channel.hpp"

#include <fmt/format.h>
#include <boost/describe.hpp>
#include <boost/json.hpp>

#include <csignal>
#include <cstdlib>
#include <map>
#include <random>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

struct parcel_event {
  std::string group;
  int seq = 0;
};
BOOST_DESCRIBE_STRUCT(parcel_event, (), (group, seq))

namespace {

using namespace std::chrono_literals;
using courier::dynamodb::number_value;
using courier::dynamodb::string_value;
namespace json = boost::json;

std::map<std::string, std::string> flags(int argc, char** argv) {
  std::map<std::string, std::string> out;
  for (int i = 2; i + 1 < argc; i += 2) out[argv[i]] = argv[i + 1];
  return out;
}

std::string need(const std::map<std::string, std::string>& f, const std::string& name) {
  const auto found = f.find(name);
  if (found == f.end()) throw std::invalid_argument("missing " + name);
  return found->second;
}

std::string or_default(const std::map<std::string, std::string>& f, const std::string& name,
                       std::string fallback) {
  const auto found = f.find(name);
  return found == f.end() ? fallback : found->second;
}

int setup(const std::map<std::string, std::string>& f) {
  courier::sqs::client sqs;
  courier::dynamodb::client dynamo;
  const std::string url =
      sqs.create_queue(need(f, "--queue"), {{"FifoQueue", "true"}, {"VisibilityTimeout", "2"}});
  courier::dynamodb::idempotent_store::create_table(dynamo, need(f, "--store"));
  dynamo.create_table({.name = need(f, "--effects")});
  fmt::print("{}\n", url);
  return 0;
}

int send(const std::map<std::string, std::string>& f) {
  courier::sqs::client sqs;
  courier::sqs::channel<parcel_event> parcels(sqs, {.queue_url = need(f, "--queue-url")});
  const int messages = std::stoi(need(f, "--messages"));
  const int groups = std::stoi(need(f, "--groups"));
  std::vector<std::pair<parcel_event, courier::send_options>> batch;
  auto flush = [&] {
    for (const auto& outcome : parcels.send_batch(batch)) {
      if (!outcome.accepted) throw std::runtime_error("a send was refused: " + outcome.refused->message);
    }
    batch.clear();
  };
  std::vector<int> next(static_cast<std::size_t>(groups), 0);
  for (int i = 0; i < messages; ++i) {
    const int g = i % groups;
    parcel_event event{fmt::format("g{}", g), next[static_cast<std::size_t>(g)]++};
    batch.emplace_back(
        event, courier::send_options{.group = event.group,
                                     .idempotency_key = fmt::format("{}-{}", event.group, event.seq)});
    if (batch.size() == 10) flush();
  }
  if (!batch.empty()) flush();
  fmt::print("sent {} messages in {} groups\n", messages, groups);
  return 0;
}

// The effect of one event, as writes for apply_in_transaction.
std::vector<json::object> effect_of(const std::string& table, const parcel_event& event,
                                    const std::string& consumer) {
  return {
      json::object{{"Update",
                    {{"TableName", table},
                     {"Key", {{"id", string_value(fmt::format("parcel#{}#{}", event.group, event.seq))}}},
                     {"UpdateExpression", "ADD applications :one SET consumer = :consumer"},
                     {"ExpressionAttributeValues",
                      {{":one", number_value(1)}, {":consumer", string_value(consumer)}}}}}},
      json::object{{"Update",
                    {{"TableName", table},
                     {"Key", {{"id", string_value("group#" + event.group)}}},
                     {"UpdateExpression", "SET applied = list_append(if_not_exists(applied, :none), :seq)"},
                     {"ExpressionAttributeValues",
                      {{":none", {{"L", json::array{}}}},
                       {":seq", {{"L", json::array{number_value(event.seq)}}}}}}}}}};
}

int consume(const std::map<std::string, std::string>& f) {
  const std::string name = need(f, "--name");
  const auto seed = std::stoull(need(f, "--seed"));
  const auto visibility = std::chrono::seconds(std::stoi(or_default(f, "--visibility", "2")));
  const double stall_rate = std::stod(or_default(f, "--stall-rate", "0.05"));
  const double throw_rate = std::stod(or_default(f, "--throw-rate", "0.05"));
  const std::string effects = need(f, "--effects");
  // Every handling, one line each, for the driver to show when a check fails.
  std::FILE* log = std::fopen(or_default(f, "--log", "/dev/null").c_str(), "a");
  if (log == nullptr) throw std::runtime_error("cannot open the log");
  std::mutex log_mutex;
  auto note = [&](const courier::sqs::delivery<parcel_event>& d, std::string_view what) {
    std::lock_guard lock(log_mutex);
    const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                        std::chrono::system_clock::now().time_since_epoch())
                        .count();
    fmt::print(log, "{} {} {}#{} receive {} {}\n", ms, name, d.message().group, d.message().seq,
               d.receive_count(), what);
    std::fflush(log);
  };

  // Blocked before any thread starts, so sigwait below receives them.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGTERM);
  sigaddset(&stop_signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);

  courier::sqs::client sqs;
  courier::dynamodb::client dynamo;
  courier::dynamodb::idempotent_store store(dynamo, {.table = need(f, "--store"), .scope = "parcels"});
  courier::sqs::channel<parcel_event> parcels(
      sqs, {.queue_url = need(f, "--queue-url"), .visibility_timeout = visibility});

  std::mutex dice_mutex;
  std::mt19937_64 dice(seed);
  auto roll = [&](double p) {
    std::lock_guard lock(dice_mutex);
    return std::uniform_real_distribution<double>(0, 1)(dice) < p;
  };
  auto handler = [&](courier::sqs::delivery<parcel_event>& d) {
    // A stall past the visibility timeout: another process receives the
    // message while this one still works on it, before or after applying.
    const bool stall = roll(stall_rate);
    const bool stall_after = roll(0.5);
    note(d, "start");
    if (stall && !stall_after) {
      note(d, "stall");
      std::this_thread::sleep_for(visibility + 1s);
    }
    if (roll(throw_rate)) {
      note(d, "throw");
      throw std::runtime_error("injected handler failure");
    }
    const auto outcome = store.apply_in_transaction({.key = d.dedup_id(), .payload = d.raw().body},
                                                    [&] { return effect_of(effects, d.message(), name); });
    note(d, outcome == courier::apply_outcome::applied ? "applied"
            : outcome == courier::apply_outcome::busy  ? "busy"
                                                       : "already");
    if (outcome == courier::apply_outcome::busy) {
      d.nack(1s);
      return;
    }
    if (stall && stall_after) {
      note(d, "stall");
      std::this_thread::sleep_for(visibility + 1s);
    }
  };
  // The injected failures, and the nack of a stalled handler whose receipt
  // another receive has replaced, are expected; anything else is shown.
  auto quiet = [](const std::string&, std::exception_ptr failure) {
    try {
      std::rethrow_exception(failure);
    } catch (const courier::aws::error& e) {
      if (e.aws_code() != "ReceiptHandleIsInvalid") fmt::print(stderr, "consumer: {}\n", e.what());
    } catch (const std::runtime_error& e) {
      if (std::string_view(e.what()) != "injected handler failure")
        fmt::print(stderr, "consumer: {}\n", e.what());
    }
  };
  auto running = parcels.consume(handler, {.concurrency = 2, .batch = 4}, quiet);
  fmt::print("consumer {} running (seed {})\n", name, seed);
  std::fflush(stdout);
  int received = 0;
  sigwait(&stop_signals, &received);
  running.stop();
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    fmt::print(stderr, "usage: exactly_once_peer setup|send|consume --flag value ...\n");
    return 2;
  }
  try {
    const std::string mode = argv[1];
    const auto f = flags(argc, argv);
    if (mode == "setup") return setup(f);
    if (mode == "send") return send(f);
    if (mode == "consume") return consume(f);
    fmt::print(stderr, "exactly_once_peer: unknown mode {}\n", mode);
    return 2;
  } catch (const std::exception& e) {
    fmt::print(stderr, "exactly_once_peer {}: {}\n", argv[1], e.what());
    return 1;
  }
}
