#include "courier/testing/fault_dice.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <cstdint>
#include <set>
#include <thread>
#include <vector>

namespace {

using courier::testing::fault_dice;

std::vector<bool> rolls(fault_dice dice, int n) {
  std::vector<bool> out;
  for (int i = 0; i < n; ++i) out.push_back(dice.roll());
  return out;
}

TEST(fault_dice, nth_fires_once_on_that_call) {
  const auto got = rolls(fault_dice::nth(3), 6);
  EXPECT_EQ(got, (std::vector<bool>{false, false, true, false, false, false}));
}

TEST(fault_dice, every_fires_on_each_multiple) {
  const auto got = rolls(fault_dice::every(2), 6);
  EXPECT_EQ(got, (std::vector<bool>{false, true, false, true, false, true}));
}

TEST(fault_dice, a_default_dice_never_fires) {
  EXPECT_EQ(rolls(fault_dice(), 100), std::vector<bool>(100, false));
}

TEST(fault_dice, a_rate_fires_about_that_often_and_the_same_way_for_the_same_seed) {
  fault_dice dice = fault_dice::rate(0.1, 42);
  const auto first = rolls(dice, 100'000);
  EXPECT_NEAR(static_cast<double>(dice.fired()), 10'000.0, 600.0);
  EXPECT_EQ(dice.rolls(), 100'000U);
  EXPECT_EQ(rolls(fault_dice::rate(0.1, 42), 100'000), first);  // replayable
  EXPECT_NE(rolls(fault_dice::rate(0.1, 43), 100'000), first);  // and the seed matters
  EXPECT_EQ(rolls(fault_dice::rate(0.0, 1), 1000), std::vector<bool>(1000, false));
  EXPECT_EQ(rolls(fault_dice::rate(1.0, 1), 1000), std::vector<bool>(1000, true));
}

TEST(fault_dice, copies_share_the_count_and_threads_get_each_roll_once) {
  fault_dice dice = fault_dice::every(10);
  std::vector<std::thread> threads;
  std::atomic<int> fired{0};
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([copy = dice, &fired]() mutable {
      for (int i = 0; i < 2500; ++i) fired += copy.roll() ? 1 : 0;
    });
  }
  for (auto& thread : threads) thread.join();
  EXPECT_EQ(dice.rolls(), 10'000U);
  EXPECT_EQ(fired.load(), 1000);
  EXPECT_EQ(dice.fired(), 1000U);
}

}  // namespace
