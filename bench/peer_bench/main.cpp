// courier_peer_bench: one workload (workload.hpp) on courier and on the
// servers a user would run for the same job instead, on this machine, side
// by side in one run: courier's in-process channel and its SQLite-kept
// channel; NATS JetStream (Debian's nats-server, memory and file storage);
// Redis Streams (Debian's redis-server, AOF appendfsync always and
// everysec). The servers are started on loopback by the benchmark (the
// tests' fixture scripts) and stopped by their PIDs. Rounds alternate
// between the engines so that a slow phase of this shared machine hits all.
//
//   courier_peer_bench [--messages N] [--rounds R] [--batch B] [--read N] [--in-flight N] [--dir D] [--only
//   NAME]
//
// Prints msg/s and send->ack p50/p99 per engine (medians of the rounds),
// each engine's durability beside it, and the two ratios the targets name.
#include "../peer_process.hpp"
#include "engines.hpp"

#include <fmt/format.h>
#include <unistd.h>

#include <algorithm>
#include <charconv>
#include <cstdio>
#include <filesystem>
#include <functional>
#include <map>
#include <string>
#include <string_view>
#include <vector>

namespace {

using namespace courier_peer_bench;

struct engine {
  std::string name;
  std::string durability;
  std::function<result()> run;
};

double median(std::vector<double> values) {
  std::sort(values.begin(), values.end());
  return values.empty() ? 0 : values[values.size() / 2];
}

int usage(const std::string& problem) {
  fmt::print(stderr,
             "courier_peer_bench: {}\nusage: courier_peer_bench [--messages N] [--rounds R] [--batch B] "
             "[--read N] [--in-flight N] [--dir D] [--only NAME]\n",
             problem);
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  workload work;
  std::size_t rounds = 3;
  std::string only;  // run the engines whose name holds this, only
  std::filesystem::path dir =
      std::filesystem::temp_directory_path() / fmt::format("courier_peer_bench_{}", ::getpid());
  for (int i = 1; i < argc; ++i) {
    const std::string_view flag = argv[i];
    if (i + 1 >= argc) return usage(fmt::format("{} needs a value", flag));
    const std::string_view value = argv[++i];
    if (flag == "--dir") {
      dir = value;
      continue;
    }
    if (flag == "--only") {
      only = value;
      continue;
    }
    std::size_t number = 0;
    const auto [end, failure] = std::from_chars(value.data(), value.data() + value.size(), number);
    if (failure != std::errc() || end != value.data() + value.size() || number == 0) {
      return usage(fmt::format("{} {}: not a positive number", flag, value));
    }
    if (flag == "--messages") {
      work.messages = number;
    } else if (flag == "--rounds") {
      rounds = number;
    } else if (flag == "--batch") {
      work.batch = number;
    } else if (flag == "--read") {
      work.read = number;
    } else if (flag == "--in-flight") {
      work.in_flight = number;
    } else {
      return usage(fmt::format("unknown option {}", flag));
    }
  }
  if (work.in_flight < work.batch) return usage("--in-flight must be at least --batch");
  std::filesystem::create_directories(dir);

  try {
    courier_bench::fixture_server redis(COURIER_REDIS_FIXTURE, "courier-peer-bench-redis");
    courier_bench::fixture_server nats(COURIER_NATS_FIXTURE, "courier-peer-bench-nats");
    const int redis_port = std::stoi(redis.read("port"));
    const int nats_port = std::stoi(nats.read("port"));

    std::vector<engine> engines = {
        {"courier in-memory", "none (process memory)", [&] { return run_courier_memory(work); }},
        {"courier SQLite group_commit", "fsync per commit, before send returns",
         [&] { return run_courier_sqlite(work, dir); }},
        {"JetStream memory", "none (server memory)",
         [&] { return run_jetstream(work, nats_port, "memory"); }},
        {"JetStream file", "page cache; fsync on a timer, not per message",
         [&] { return run_jetstream(work, nats_port, "file"); }},
        {"Redis Streams AOF always", "fsync per event-loop write, before replying",
         [&] { return run_redis_streams(work, redis_port, "always"); }},
        {"Redis Streams AOF everysec", "fsync once a second",
         [&] { return run_redis_streams(work, redis_port, "everysec"); }},
    };
    std::erase_if(engines, [&](const engine& each) { return each.name.find(only) == std::string::npos; });
    fmt::print(
        "peer benchmark: {} messages, 1 producer (batches of {}), 1 consumer (up to {} a read, every message "
        "acked), {} groups in FIFO order, a key per message (dedup window 5 min), {}-byte bodies, at most {} "
        "in "
        "flight; {} rounds alternating\n",
        work.messages, work.batch, work.read, groups, body_size, work.in_flight, rounds);
    std::map<std::string, std::vector<result>> results;
    for (std::size_t round = 1; round <= rounds; ++round) {
      for (const auto& each : engines) {
        const result got = each.run();
        results[each.name].push_back(got);
        fmt::print("  round {}: {:<28} {:>10.0f} msg/s  p50 {:>8.0f} us  p99 {:>8.0f} us\n", round, each.name,
                   got.per_second, got.p50_us, got.p99_us);
        std::fflush(stdout);
      }
    }
    std::map<std::string, double> rate;
    fmt::print("\n{:<28} {:>10} {:>10} {:>10}  {}\n", "engine (median)", "msg/s", "p50 us", "p99 us",
               "durability");
    for (const auto& each : engines) {
      std::vector<double> rates, p50s, p99s;
      for (const auto& got : results[each.name]) {
        rates.push_back(got.per_second);
        p50s.push_back(got.p50_us);
        p99s.push_back(got.p99_us);
      }
      rate[each.name] = median(rates);
      fmt::print("{:<28} {:>10.0f} {:>10.0f} {:>10.0f}  {}\n", each.name, median(rates), median(p50s),
                 median(p99s), each.durability);
    }
    // The targets' two ratios: the in-process channel against JetStream in
    // memory; the SQLite channel against the fastest peer that syncs at least
    // as often (Redis with AOF always: an fsync before each reply).
    if (!only.empty()) return 0;
    fmt::print("\ncourier in-memory / JetStream memory: {:.2f}x\n",
               rate["courier in-memory"] / rate["JetStream memory"]);
    fmt::print("courier SQLite group_commit / Redis Streams AOF always: {:.2f}x\n",
               rate["courier SQLite group_commit"] / rate["Redis Streams AOF always"]);
  } catch (const std::exception& e) {
    fmt::print(stderr, "courier_peer_bench: {}\n", e.what());
    std::filesystem::remove_all(dir);
    return 1;
  }
  std::filesystem::remove_all(dir);
  return 0;
}
