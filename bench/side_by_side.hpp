// What the side-by-side AWS benchmarks (SQS, SNS, DynamoDB idempotency)
// share: their command line, and the tally of courier's rounds against a
// peer's (boto3) with the ratio quoted from one run.
#pragma once

#include <fmt/format.h>

#include <cstdlib>
#include <string>
#include <string_view>

namespace courier_bench {

// --endpoint URL (empty: the benchmark starts moto), --<count> N,
// --rounds R, and with a peer --client both|courier|<peer>.
struct side_by_side_args {
  std::string endpoint = {};
  int count = 0;
  int rounds = 0;
  std::string client = "both";

  bool runs(std::string_view who) const { return client == "both" || client == who; }
};

// Parses argv over the defaults in args: "" when it could, else what was
// wrong with it. Without a peer there is no --client.
inline std::string parse_args(int argc, char** argv, std::string_view count_flag, std::string_view peer,
                              side_by_side_args& args) {
  for (int i = 1; i < argc; ++i) {
    const std::string_view flag = argv[i];
    if (i + 1 >= argc) return fmt::format("{} needs a value", flag);
    const std::string value = argv[++i];
    if (flag == "--endpoint") {
      args.endpoint = value;
    } else if (flag == "--client" && !peer.empty()) {
      if (value != "both" && value != "courier" && value != peer) {
        return fmt::format("--client: both, courier or {}", peer);
      }
      args.client = value;
    } else if (flag == count_flag || flag == "--rounds") {
      const int n = std::atoi(value.c_str());
      if (n <= 0) return fmt::format("{} {}: not a positive number", flag, value);
      (flag == count_flag ? args.count : args.rounds) = n;
    } else {
      return fmt::format("unknown option {}", flag);
    }
  }
  return {};
}

// One client's rounds, added up: wall time, its own CPU time, units done.
struct tally {
  double seconds = 0;
  double cpu_seconds = 0;
  double units = 0;

  void add(double round_seconds, double round_cpu_seconds, double round_units) {
    seconds += round_seconds;
    cpu_seconds += round_cpu_seconds;
    units += round_units;
  }
  double rate() const { return units / seconds; }
  double cpu_per_unit() const { return cpu_seconds / units; }
};

// The comparison of all rounds: each side's rate and CPU per unit, and the
// two ratios (courier / peer).
inline void print_comparison(std::string_view unit, const tally& courier, std::string_view peer,
                             const tally& baseline) {
  fmt::print("\nall rounds: courier {:.1f} {}/s, {:.0f} us CPU/{}; {} {:.1f} {}/s, {:.0f} us CPU/{}\n",
             courier.rate(), unit, courier.cpu_per_unit() * 1e6, unit, peer, baseline.rate(), unit,
             baseline.cpu_per_unit() * 1e6, unit);
  fmt::print("courier/{}: throughput {:.2f}x, client CPU per {} {:.3f}x\n", peer,
             courier.rate() / baseline.rate(), unit, courier.cpu_per_unit() / baseline.cpu_per_unit());
}

}  // namespace courier_bench
