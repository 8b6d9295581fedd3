// courier-bench: what each delivery guarantee costs, and a check that it
// held. Runs the scenarios of the chosen levels on a transport (in-process
// by default), prints a table, optionally writes JSON and an SVG chart, and
// exits non-zero if a guarantee was broken. `courier-bench --help` lists the
// options; bench/README.md and the README show runs.
#include "crash_run.hpp"
#include "report.hpp"
#include "scenarios.hpp"
#include "settings.hpp"

#include <fmt/format.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <exception>
#include <string>
#include <vector>

namespace {

using courier_bench::level;
using courier_bench::result;
using courier_bench::settings;

// Progress on stderr for scenarios that run longer than a couple of seconds:
// one line rewritten in place on a terminal, a line every few seconds
// otherwise (CI logs).
class progress_line {
 public:
  progress_line(const settings& chosen, std::string scenario)
      : quiet_(chosen.quiet), total_(chosen.messages), scenario_(std::move(scenario)),
        terminal_(::isatty(STDERR_FILENO) == 1), start_(std::chrono::steady_clock::now()) {}

  void operator()(std::size_t done) {
    if (quiet_) return;
    const auto now = std::chrono::steady_clock::now();
    if (now - start_ < std::chrono::seconds(2)) return;
    if (now - last_ < (terminal_ ? std::chrono::milliseconds(200) : std::chrono::milliseconds(3000))) return;
    last_ = now;
    shown_ = true;
    const double seconds = std::chrono::duration<double>(now - start_).count();
    fmt::print(stderr, "{}  {}: {}/{} messages ({:.0f}%), {:.0f} s{}", terminal_ ? "\r" : "", scenario_, done,
               total_, 100.0 * static_cast<double>(done) / static_cast<double>(total_), seconds,
               terminal_ ? "   " : "\n");
    std::fflush(stderr);
  }

  ~progress_line() {
    if (shown_ && terminal_) fmt::print(stderr, "\n");
  }

 private:
  bool quiet_;
  std::size_t total_;
  std::string scenario_;
  bool terminal_;
  std::chrono::steady_clock::time_point start_;
  std::chrono::steady_clock::time_point last_{};
  bool shown_ = false;
};

int run_durable_crash(const settings& chosen, const char* program) {
  const std::string kills = std::to_string(chosen.kills);
  const std::string messages = std::to_string(chosen.messages);
  const std::string seed = std::to_string(chosen.faults.seed);
  const std::string groups = std::to_string(chosen.groups);
  const char* args[] = {program,          "--kills", kills.c_str(), "--messages", messages.c_str(),
                        "--seed",         seed.c_str(), "--groups", groups.c_str()};
  return courier_crash::crash_main(static_cast<int>(std::size(args)), args);
}

}  // namespace

int main(int argc, char** argv) {
  if (courier_crash::is_crash_worker(argc, argv)) return courier_crash::crash_main(argc, argv);
  settings chosen;
  try {
    chosen = courier_bench::parse(argc, argv);
  } catch (const courier_bench::usage_error& e) {
    if (e.what()[0] != '\0') fmt::print(stderr, "courier-bench: {}\n", e.what());
    fmt::print(stderr, "{}", courier_bench::usage());
    return 2;
  }
  if (chosen.durable_crash) return run_durable_crash(chosen, argv[0]);

  fmt::print("courier-bench: transport {}, {} messages per scenario, {} FIFO groups", name_of(chosen.transport),
             chosen.messages, chosen.groups);
  if (chosen.faults.any()) {
    fmt::print("; faults (seed {}): duplicate sends {}, consumer failures {}, lost acks {}, expired {}, drops {}",
               chosen.faults.seed, chosen.faults.duplicate_send, chosen.faults.consumer_failure,
               chosen.faults.lost_ack, chosen.faults.expired, chosen.faults.dropped);
  }
  fmt::print("\n");
  std::fflush(stdout);

  std::vector<result> results;
  try {
    for (level each : chosen.levels) {
      progress_line progress(chosen, name_of(each));
      switch (chosen.transport) {
        case courier_bench::transport::sqs:
          results.push_back(courier_bench::run_sqs(each, chosen, std::ref(progress)));
          break;
        case courier_bench::transport::ws:
          results.push_back(courier_bench::run_ws(each, chosen, std::ref(progress)));
          break;
        default:
          results.push_back(courier_bench::run_local(each, chosen, std::ref(progress)));
      }
    }
  } catch (const std::exception& e) {
    fmt::print(stderr, "courier-bench: {}\n", e.what());
    return 1;
  }

  fmt::print("\n{}", courier_bench::table(results));
  bool all_held = true;
  for (const result& each : results) all_held = all_held && each.held;
  try {
    if (!chosen.json_file.empty()) {
      courier_bench::write_file(chosen.json_file, courier_bench::json(chosen, results));
      fmt::print("wrote {}\n", chosen.json_file);
    }
    if (!chosen.svg_file.empty()) {
      courier_bench::write_file(chosen.svg_file, courier_bench::svg(results));
      fmt::print("wrote {}\n", chosen.svg_file);
    }
  } catch (const std::exception& e) {
    fmt::print(stderr, "courier-bench: {}\n", e.what());
    return 1;
  }
  fmt::print("{}\n", all_held ? "every guarantee held" : "A GUARANTEE WAS BROKEN");
  return all_held ? 0 : 1;
}
