#include "courier/subscription.hpp"

#include "courier/bus.hpp"

#include <gtest/gtest.h>

#include <string>

namespace {

struct tick {};

TEST(subscription, an_empty_one_is_harmless) {
  courier::subscription empty;
  EXPECT_FALSE(empty.connected());
  EXPECT_EQ(empty.id(), courier::subscription_id{});
  empty.disconnect();
  auto block = empty.block();
  EXPECT_FALSE(block.blocking());
}

TEST(subscription, moving_transfers_the_observer) {
  courier::bus bus;
  int calls = 0;
  auto first = bus.subscribe<tick>([&](const tick&) { ++calls; });
  const auto id = first.id();
  courier::subscription second(std::move(first));
  EXPECT_FALSE(first.connected());
  EXPECT_TRUE(second.connected());
  EXPECT_EQ(second.id(), id);
  bus.publish(tick{});
  EXPECT_EQ(calls, 1);
}

TEST(subscription, move_assignment_disconnects_the_old_observer) {
  courier::bus bus;
  int old_calls = 0;
  int new_calls = 0;
  auto held = bus.subscribe<tick>([&](const tick&) { ++old_calls; });
  held = bus.subscribe<tick>([&](const tick&) { ++new_calls; });
  bus.publish(tick{});
  EXPECT_EQ(old_calls, 0);
  EXPECT_EQ(new_calls, 1);
}

TEST(subscription, disconnect_is_idempotent_and_stops_calls) {
  courier::bus bus;
  int calls = 0;
  auto sub = bus.subscribe<tick>([&](const tick&) { ++calls; });
  sub.disconnect();
  sub.disconnect();
  EXPECT_FALSE(sub.connected());
  EXPECT_FALSE(bus.has_observers<tick>());
  bus.publish(tick{});
  EXPECT_EQ(calls, 0);
}

TEST(subscription, a_block_skips_the_observer_while_it_lives) {
  courier::bus bus;
  int calls = 0;
  auto sub = bus.subscribe<tick>([&](const tick&) { ++calls; });
  {
    auto block = sub.block();
    EXPECT_TRUE(block.blocking());
    bus.publish(tick{});
    EXPECT_EQ(calls, 0);
  }
  bus.publish(tick{});
  EXPECT_EQ(calls, 1);
  EXPECT_TRUE(sub.connected());
}

TEST(subscription, ids_are_unique_and_print) {
  courier::bus bus;
  auto a = bus.subscribe<tick>([](const tick&) {});
  auto b = bus.subscribe<tick>([](const tick&) {});
  EXPECT_NE(a.id(), b.id());
  EXPECT_EQ(fmt::format("{}", a.id()), "subscription#" + std::to_string(a.id().value));
}

TEST(subscription, may_outlive_its_bus) {
  courier::subscription sub;
  {
    courier::bus bus;
    sub = bus.subscribe<tick>([](const tick&) {});
    EXPECT_TRUE(sub.connected());
  }
  EXPECT_FALSE(sub.connected());
  sub.disconnect();
}

}  // namespace
