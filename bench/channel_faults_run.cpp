// The channel fault run at full size: the harness the tests run at 10^5
// messages (tests/channel_faults_test.cpp), here at 10^7 by default.
//
//   courier_channel_faults [--messages N] [--seed S] [--producers P]
//                          [--consumers C] [--groups G]
//
// Prints what was injected and what was checked; exits 1 if a guarantee was
// broken (the seed to replay it is in the output), 2 on bad arguments.
#include <courier/testing/channel_faults.hpp>

#include <fmt/format.h>

#include <charconv>
#include <cstdio>
#include <string_view>

namespace {

int usage(std::string_view problem) {
  fmt::print(stderr,
             "courier_channel_faults: {}\n"
             "usage: courier_channel_faults [--messages N] [--seed S] [--producers P] [--consumers C] "
             "[--groups G]\n",
             problem);
  return 2;
}

bool parse(std::string_view text, std::size_t& out) {
  const auto [end, failure] = std::from_chars(text.data(), text.data() + text.size(), out);
  return failure == std::errc() && end == text.data() + text.size() && out > 0;
}

}  // namespace

int main(int argc, char** argv) {
  courier::testing::fault_plan plan;
  plan.messages = 10'000'000;
  plan.time_limit = std::chrono::seconds(1200);
  for (int i = 1; i < argc; ++i) {
    const std::string_view flag = argv[i];
    if (i + 1 >= argc) return usage(fmt::format("{} needs a value", flag));
    const std::string_view value = argv[++i];
    std::size_t number = 0;
    if (!parse(value, number)) return usage(fmt::format("{} {}: not a positive number", flag, value));
    if (flag == "--messages") {
      plan.messages = number;
    } else if (flag == "--seed") {
      plan.seed = number;
    } else if (flag == "--producers") {
      plan.producers = number;
    } else if (flag == "--consumers") {
      plan.consumers = number;
    } else if (flag == "--groups") {
      plan.groups = number;
    } else {
      return usage(fmt::format("unknown option {}", flag));
    }
  }
  fmt::print("channel fault run: {} messages, {} producers, {} consumers, {} groups, seed {}\n",
             plan.messages, plan.producers, plan.consumers, plan.groups, plan.seed);
  std::fflush(stdout);
  const courier::testing::fault_report report = courier::testing::run_channel_faults(plan);
  fmt::print("{}\n", report.describe());
  fmt::print("{} in {:.1f} s ({:.0f} messages/s with faults)\n", report.ok() ? "PASSED" : "FAILED",
             report.elapsed.count(), static_cast<double>(plan.messages) / report.elapsed.count());
  return report.ok() ? 0 : 1;
}
