// courier's DynamoDB idempotency store beside the two things a user would
// otherwise use, against the same DynamoDB API (moto_server on loopback by
// default) in one run:
//   powertools  Powertools for AWS Lambda's idempotency utility (TypeScript,
//               @aws-lambda-powertools/idempotency with its DynamoDB
//               persistence layer) on a plain function, outside Lambda
//   boto3       a hand-written conditional PutItem + UpdateItem loop
//   courier     dynamodb::idempotent_store::apply_once (begin: a conditional
//               UpdateItem, the effect, commit: a conditional UpdateItem)
//   courier-tx  apply_in_transaction with the effect's writes empty: the mark
//               alone, one conditional PutItem (what an effect that is itself
//               a DynamoDB write costs beyond that write)
// Each takes N fresh keys one at a time from one thread: claim, a trivial
// effect, completion. Reported: keys per second and client CPU per key (each
// process's own CPU time). moto is slow and its cost per request dominates
// the wall time: compare ratios, not absolute figures. Rounds alternate the
// clients, each on a table of its own.
//
//   courier_idempotency_bench [--endpoint URL] [--keys N] [--rounds R]
//
// Without --endpoint the program starts moto (tests/sqs/moto.sh) and stops
// it by its PID. The Node peer's packages come from
// bench/idempotency/package-lock.json (npm ci on first use).
#include <courier/dynamodb/idempotent_store.hpp>

#include "peer_process.hpp"
#include "side_by_side.hpp"

#include <fmt/format.h>
#include <boost/json.hpp>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <string>
#include <string_view>
#include <vector>

namespace {

using courier_bench::process_cpu_seconds;
using courier_bench::run;

struct figures {
  double keys_per_second = 0;
  double cpu_seconds_per_key = 0;
};

constexpr int warm_up_keys = 20;  // as the peers: connections and tables warm before timing

figures courier_round(courier::dynamodb::client& dynamo, const std::string& table, int keys,
                      bool transaction) {
  courier::dynamodb::idempotent_store store(dynamo, {.table = table, .scope = "bench"});
  const std::string run_id =
      fmt::format("{}-{}", ::getpid(), std::chrono::steady_clock::now().time_since_epoch().count());
  int effects = 0;
  auto one = [&](int i) {
    const std::string key = fmt::format("courier-{}-{}", run_id, i);
    const auto outcome = transaction ? store.apply_in_transaction(
                                           {.key = key}, [] { return std::vector<boost::json::object>{}; })
                                     : store.apply_once(key, [&] { ++effects; });
    if (outcome != courier::apply_outcome::applied)
      throw std::runtime_error("a fresh key was not applied: " + key);
  };
  for (int i = 0; i < warm_up_keys; ++i) one(i);
  const auto wall = std::chrono::steady_clock::now();
  const double cpu = process_cpu_seconds();
  for (int i = warm_up_keys; i < warm_up_keys + keys; ++i) one(i);
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - wall).count();
  return {keys / seconds, (process_cpu_seconds() - cpu) / keys};
}

figures peer_round(const std::string& command) {
  const std::string out = run(command);
  const auto line = out.substr(out.find('{'));
  const auto parsed = boost::json::parse(line).as_object();
  return {parsed.at("keys_per_second").to_number<double>(),
          parsed.at("cpu_seconds_per_key").to_number<double>()};
}

int usage(std::string_view problem) {
  fmt::print(stderr,
             "courier_idempotency_bench: {}\nusage: courier_idempotency_bench [--endpoint URL] [--keys N] "
             "[--rounds R]\n",
             problem);
  return 2;
}

double median(std::vector<double> values) {
  std::sort(values.begin(), values.end());
  return values[values.size() / 2];
}

}  // namespace

int main(int argc, char** argv) {
  courier_bench::side_by_side_args args{.count = 300, .rounds = 3};
  if (const auto problem = courier_bench::parse_args(argc, argv, "--keys", "", args); !problem.empty()) {
    return usage(problem);
  }
  std::string endpoint = args.endpoint;
  const int keys = args.count;
  const int rounds = args.rounds;
  const std::string peers = COURIER_IDEMPOTENCY_PEERS;
  int status = 0;
  try {
    if (!std::filesystem::exists(peers + "/node_modules/@aws-lambda-powertools/idempotency")) {
      run(fmt::format("cd {} && npm ci --no-audit --no-fund >&2", peers));
    }
    const courier_bench::moto_endpoint moto(endpoint, COURIER_MOTO_SCRIPT, "courier-idempotency-bench");
    endpoint = moto.url();
    courier::dynamodb::client dynamo(
        {.settings = {.region = "us-east-1", .endpoint = endpoint, .keys = {"testing", "testing"}}});
    fmt::print("DynamoDB idempotency benchmark at {}: {} keys a round, {} rounds, one thread each\n\n",
               endpoint, keys, rounds);
    fmt::print("{:<12} {:>5} {:>10} {:>14}\n", "client", "round", "keys/s", "CPU us/key");
    const std::vector<std::string> clients{"courier", "courier-tx", "powertools", "boto3"};
    std::map<std::string, std::vector<figures>> measured;
    for (int round = 0; round < rounds; ++round) {
      for (const auto& client : clients) {
        const std::string table = fmt::format("idempotency-{}-{}-{}", ::getpid(), round, client);
        figures f;
        if (client == "powertools") {
          f = peer_round(
              fmt::format("node {}/powertools_peer.mjs --endpoint {} --table {} --keys {} 2>/dev/null", peers,
                          endpoint, table, keys));
        } else if (client == "boto3") {
          f = peer_round(fmt::format("python3 {}/boto3_peer.py --endpoint {} --table {} --keys {}", peers,
                                     endpoint, table, keys));
        } else {
          courier::dynamodb::idempotent_store::create_table(dynamo, table);
          f = courier_round(dynamo, table, keys, client == "courier-tx");
        }
        dynamo.delete_table(table);
        fmt::print("{:<12} {:>5} {:>10.1f} {:>14.0f}\n", client, round + 1, f.keys_per_second,
                   f.cpu_seconds_per_key * 1e6);
        measured[client].push_back(f);
      }
    }
    std::map<std::string, figures> medians;
    for (const auto& [client, rows] : measured) {
      std::vector<double> rate;
      std::vector<double> cpu;
      for (const auto& f : rows) {
        rate.push_back(f.keys_per_second);
        cpu.push_back(f.cpu_seconds_per_key);
      }
      medians[client] = {median(rate), median(cpu)};
    }
    const std::string faster =
        medians["powertools"].keys_per_second >= medians["boto3"].keys_per_second ? "powertools" : "boto3";
    fmt::print("\nmedians of {} rounds; the faster baseline is {}\n", rounds, faster);
    for (const std::string client : {"courier", "courier-tx"}) {
      fmt::print("{:<10} / {}: throughput {:.2f}x, client CPU per key {:.3f}x\n", client, faster,
                 medians[client].keys_per_second / medians[faster].keys_per_second,
                 medians[client].cpu_seconds_per_key / medians[faster].cpu_seconds_per_key);
    }
  } catch (const std::exception& e) {
    fmt::print(stderr, "courier_idempotency_bench: {}\n", e.what());
    status = 1;
  }
  return status;
}
