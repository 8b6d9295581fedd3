// The channel's guarantees under injected faults: a seeded randomized run
// (courier/testing/channel_faults.hpp). Set COURIER_FAULT_SEED to replay a
// seed; the seed is printed with every result.
#include "courier/testing/channel_faults.hpp"

#include <gtest/gtest.h>

#include <cstdlib>
#include <string>

namespace {

std::uint64_t seed_from_environment(std::uint64_t fallback) {
  const char* text = std::getenv("COURIER_FAULT_SEED");
  return text != nullptr ? std::stoull(text) : fallback;
}

TEST(channel_faults, nothing_is_lost_applied_twice_or_reordered_under_faults) {
  courier::testing::fault_plan plan{.seed = seed_from_environment(20261126)};
  const auto report = courier::testing::run_channel_faults(plan);
  RecordProperty("fault_report", report.describe());
  std::printf("%s\n", report.describe().c_str());
  EXPECT_TRUE(report.ok()) << report.describe();
  // The run must have exercised what it claims to.
  EXPECT_GT(report.duplicates, 0U) << report.describe();
  EXPECT_GT(report.failures_injected, 0U) << report.describe();
  EXPECT_GT(report.acks_lost, 0U) << report.describe();
  EXPECT_GT(report.clock_jumps, 0U) << report.describe();
  EXPECT_GT(report.deliveries, report.keys) << report.describe();  // redeliveries happened
}

TEST(channel_faults, one_group_one_consumer_keeps_strict_order) {
  courier::testing::fault_plan plan{
      .seed = seed_from_environment(7), .messages = 5'000, .producers = 2, .consumers = 3, .groups = 1};
  const auto report = courier::testing::run_channel_faults(plan);
  EXPECT_TRUE(report.ok()) << report.describe();
}

}  // namespace
