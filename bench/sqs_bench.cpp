// courier's SQS channel beside boto3 doing the same work, against the same
// SQS API (moto_server on loopback by default) in one run.
//
//   courier_sqs_bench [--endpoint URL] [--messages N] [--rounds R] [--client both|courier|boto3]
//
// The work, for each client: N messages to a FIFO queue in batches of 10
// (4 message groups, a dedup id each); after each batch, receive up to 10
// and delete them in one batch, so the queue stays shallow (moto slows down
// as a queue fills); then drain. courier uses sqs::channel<pickup>
// (send_batch, receive, ack of a span), boto3 its send_message_batch,
// receive_message and delete_message_batch. Reported per client: messages/s
// and client CPU per message (courier: this process's CPU time; boto3: its
// own process's, measured inside it). Rounds alternate the clients, each
// on a fresh queue. Without --endpoint the program starts moto_server itself
// (tests/sqs/moto.sh) and stops it by its PID.
#include <courier/sqs/channel.hpp>

#include "peer_process.hpp"
#include "side_by_side.hpp"

#include <fmt/format.h>
#include <boost/describe.hpp>
#include <boost/json.hpp>

#include <chrono>
#include <cstdlib>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

struct pickup {
  std::string vendor;
  int parcel;
};
BOOST_DESCRIBE_STRUCT(pickup, (), (vendor, parcel))

namespace {

using namespace std::chrono_literals;
using courier_bench::process_cpu_seconds;
using courier_bench::run;

struct figures {
  double seconds = 0;
  double cpu_seconds = 0;
  int received = 0;
};

figures courier_round(courier::sqs::client& sqs, const std::string& url, int messages) {
  courier::sqs::channel<pickup> pickups(sqs, {.queue_url = url, .send_linger = 1ms});
  auto receive_and_ack = [&] {
    auto got = pickups.receive(10);
    std::vector<courier::sqs::sqs_receipt> done;
    for (const auto& d : got) done.push_back(d.receipt());
    if (!done.empty()) pickups.ack(done);
    return static_cast<int>(got.size());
  };
  const auto wall = std::chrono::steady_clock::now();
  const double cpu = process_cpu_seconds();
  figures out;
  for (int first = 0; first < messages; first += 10) {
    std::vector<std::pair<pickup, courier::send_options>> batch;
    for (int i = first; i < std::min(first + 10, messages); ++i) {
      batch.push_back(
          {pickup{"acme", 0},
           {.group = fmt::format("g{}", i % 4), .idempotency_key = fmt::format("courier-{}", i)}});
    }
    for (const auto& outcome : pickups.send_batch(batch)) {
      if (!outcome.accepted) throw std::runtime_error("SQS refused a message: " + outcome.refused->message);
    }
    out.received += receive_and_ack();
  }
  for (int idle = 0; out.received < messages && idle < 20;) {
    const int got = receive_and_ack();
    out.received += got;
    idle = got == 0 ? idle + 1 : 0;
  }
  out.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - wall).count();
  out.cpu_seconds = process_cpu_seconds() - cpu;
  return out;
}

figures boto3_round(const std::string& endpoint, const std::string& url, int messages) {
  const auto line = run(fmt::format("python3 {} {} {} {}", COURIER_BOTO3_BENCH, endpoint, url, messages));
  const auto parsed = boost::json::parse(line).as_object();
  return {parsed.at("seconds").to_number<double>(), parsed.at("cpu_seconds").to_number<double>(),
          static_cast<int>(parsed.at("received").to_number<std::int64_t>())};
}

}  // namespace

int main(int argc, char** argv) {
  courier_bench::side_by_side_args args{.count = 300, .rounds = 2};
  if (const auto problem = courier_bench::parse_args(argc, argv, "--messages", "boto3", args);
      !problem.empty()) {
    fmt::print(stderr,
               "courier_sqs_bench: {}\nusage: courier_sqs_bench [--endpoint URL] [--messages N] [--rounds R] "
               "[--client both|courier|boto3]\n",
               problem);
    return 2;
  }
  const int messages = args.count;
  int status = 0;
  try {
    const courier_bench::moto_endpoint moto(args.endpoint, COURIER_MOTO_SCRIPT, "courier-sqs-bench");
    const std::string endpoint = moto.url();
    courier::sqs::client sqs(
        {.settings = {.region = "us-east-1", .endpoint = endpoint, .keys = {"testing", "testing"}}});
    fmt::print("SQS benchmark at {}: {} messages a round, {} rounds per client\n\n", endpoint, messages,
               args.rounds);
    fmt::print("{:<8} {:>5} {:>12} {:>16} {:>9}\n", "client", "round", "messages/s", "CPU us/message",
               "received");
    courier_bench::tally totals[2];
    for (int round = 0; round < args.rounds; ++round) {
      for (int who = 0; who < 2; ++who) {
        if (!args.runs(who == 0 ? "courier" : "boto3")) continue;
        const std::string url = sqs.create_queue(fmt::format("bench-{}-{}-{}.fifo", ::getpid(), round, who),
                                                 {{"FifoQueue", "true"}});
        const figures f = who == 0 ? courier_round(sqs, url, messages) : boto3_round(endpoint, url, messages);
        sqs.delete_queue(url);
        fmt::print("{:<8} {:>5} {:>12.1f} {:>16.0f} {:>9}\n", who == 0 ? "courier" : "boto3", round + 1,
                   f.received / f.seconds, f.cpu_seconds * 1e6 / f.received, f.received);
        if (f.received != messages) status = 1;
        totals[who].add(f.seconds, f.cpu_seconds, f.received);
      }
    }
    if (args.client == "both") courier_bench::print_comparison("msg", totals[0], "boto3", totals[1]);
  } catch (const std::exception& e) {
    fmt::print(stderr, "courier_sqs_bench: {}\n", e.what());
    status = 1;
  }
  return status;
}
