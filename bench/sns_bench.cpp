// Fan-out through SNS: courier beside boto3 doing the same work against the
// same SNS and SQS API (moto_server on loopback by default), in one run.
//
//   courier_sns_bench [--endpoint URL] [--events N] [--rounds R] [--client both|courier|boto3]
//
// The work, for each client: one publisher sends N events to a FIFO topic
// in PublishBatch requests of 10 (4 message groups, a dedup id each); the
// topic fans each out to three subscribed FIFO queues (raw delivery, set up
// by sns::subscribe_queue before the clock starts); after each batch the
// client receives up to 10 from each queue and deletes them in one batch,
// so the queues stay shallow; then it drains them. courier uses
// sns::publisher (encode + publish_batch) and sqs::channel (receive, ack of
// a span); boto3 its publish_batch, receive_message and
// delete_message_batch, with the same attributes. Reported per client:
// events/s (each event delivered three times) and client CPU per event.
// Rounds alternate the clients, each on a fresh topic and queues. Without
// --endpoint the program starts moto_server itself and stops it by its PID.
#include <courier/sns/publisher.hpp>
#include <courier/sns/subscribe_queue.hpp>
#include <courier/sqs/channel.hpp>

#include "peer_process.hpp"
#include "side_by_side.hpp"

#include <fmt/format.h>
#include <boost/describe.hpp>
#include <boost/json.hpp>

#include <chrono>
#include <string>
#include <vector>

struct pickup {
  std::string vendor;
  int parcel;
};
BOOST_DESCRIBE_STRUCT(pickup, (), (vendor, parcel))

namespace {

using courier_bench::process_cpu_seconds;
constexpr int subscribers = 3;

struct figures {
  double seconds = 0;
  double cpu_seconds = 0;
  int delivered = 0;  // events received across the three queues
};

figures courier_round(courier::sns::client& sns, courier::sqs::client& sqs, const std::string& topic,
                      const std::vector<std::string>& queues, int events) {
  courier::sns::publisher publisher(sns, topic);
  std::vector<std::unique_ptr<courier::sqs::channel<pickup>>> inboxes;
  for (const auto& url : queues) {
    inboxes.push_back(std::make_unique<courier::sqs::channel<pickup>>(
        sqs, courier::sqs::channel_options{.queue_url = url}));
  }
  auto receive_and_ack = [&](courier::sqs::channel<pickup>& inbox) {
    auto got = inbox.receive(10);
    std::vector<courier::sqs::sqs_receipt> done;
    for (const auto& d : got) done.push_back(d.receipt());
    if (!done.empty()) inbox.ack(done);
    return static_cast<int>(got.size());
  };
  const auto wall = std::chrono::steady_clock::now();
  const double cpu = process_cpu_seconds();
  figures out;
  for (int first = 0; first < events; first += 10) {
    std::vector<courier::sns::outgoing_message> batch;
    for (int i = first; i < std::min(first + 10, events); ++i) {
      batch.push_back(publisher.encode(pickup{"acme", i}, {.group = fmt::format("g{}", i % 4),
                                                           .idempotency_key = fmt::format("courier-{}", i)}));
      batch.back().entry_id = std::to_string(i - first);
    }
    const auto result = sns.publish_batch(topic, batch);
    if (!result.failed.empty()) throw std::runtime_error("SNS refused an event: " + result.failed[0].message);
    for (auto& inbox : inboxes) out.delivered += receive_and_ack(*inbox);
  }
  for (int idle = 0; out.delivered < subscribers * events && idle < 20;) {
    int got = 0;
    for (auto& inbox : inboxes) got += receive_and_ack(*inbox);
    out.delivered += got;
    idle = got == 0 ? idle + 1 : 0;
  }
  out.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - wall).count();
  out.cpu_seconds = process_cpu_seconds() - cpu;
  return out;
}

figures boto3_round(const std::string& endpoint, const std::string& topic,
                    const std::vector<std::string>& queues, int events) {
  const auto line = courier_bench::run(fmt::format("python3 {} {} {} {} {}", COURIER_BOTO3_SNS_BENCH,
                                                   endpoint, topic, events, fmt::join(queues, " ")));
  const auto parsed = boost::json::parse(line).as_object();
  return {parsed.at("seconds").to_number<double>(), parsed.at("cpu_seconds").to_number<double>(),
          static_cast<int>(parsed.at("delivered").to_number<std::int64_t>())};
}

}  // namespace

int main(int argc, char** argv) {
  courier_bench::side_by_side_args args{.count = 200, .rounds = 2};
  if (const auto problem = courier_bench::parse_args(argc, argv, "--events", "boto3", args);
      !problem.empty()) {
    fmt::print(stderr,
               "courier_sns_bench: {}\nusage: courier_sns_bench [--endpoint URL] [--events N] [--rounds R] "
               "[--client both|courier|boto3]\n",
               problem);
    return 2;
  }
  const int events = args.count;
  int status = 0;
  try {
    const courier_bench::moto_endpoint moto(args.endpoint, COURIER_MOTO_SCRIPT, "courier-sns-bench");
    const std::string endpoint = moto.url();
    const courier::aws::client_options options{
        .settings = {.region = "us-east-1", .endpoint = endpoint, .keys = {"testing", "testing"}}};
    courier::sns::client sns(options);
    courier::sqs::client sqs(options);
    fmt::print(
        "SNS fan-out benchmark at {}: {} events a round to {} subscribed queues, {} rounds per client\n\n",
        endpoint, events, subscribers, args.rounds);
    fmt::print("{:<8} {:>5} {:>10} {:>14} {:>10}\n", "client", "round", "events/s", "CPU us/event",
               "delivered");
    courier_bench::tally totals[2];
    for (int round = 0; round < args.rounds; ++round) {
      for (int who = 0; who < 2; ++who) {
        if (!args.runs(who == 0 ? "courier" : "boto3")) continue;
        const std::string prefix = fmt::format("bench-{}-{}-{}", ::getpid(), round, who);
        const std::string topic = sns.create_topic(prefix + ".fifo", {.fifo = true});
        std::vector<std::string> queues;
        for (int q = 0; q < subscribers; ++q) {
          queues.push_back(
              courier::sns::subscribe_queue(sns, sqs, topic, fmt::format("{}-{}.fifo", prefix, q)).queue_url);
        }
        const figures f = who == 0 ? courier_round(sns, sqs, topic, queues, events)
                                   : boto3_round(endpoint, topic, queues, events);
        for (const auto& url : queues) sqs.delete_queue(url);
        sns.delete_topic(topic);
        fmt::print("{:<8} {:>5} {:>10.1f} {:>14.0f} {:>10}\n", who == 0 ? "courier" : "boto3", round + 1,
                   events / f.seconds, f.cpu_seconds * 1e6 / events, f.delivered);
        if (f.delivered != subscribers * events) status = 1;
        totals[who].add(f.seconds, f.cpu_seconds, static_cast<double>(f.delivered) / subscribers);
      }
    }
    if (args.client == "both") courier_bench::print_comparison("event", totals[0], "boto3", totals[1]);
    if (status != 0) fmt::print("SOME EVENTS WERE NOT DELIVERED to every queue\n");
  } catch (const std::exception& e) {
    fmt::print(stderr, "courier_sns_bench: {}\n", e.what());
    status = 1;
  }
  return status;
}
