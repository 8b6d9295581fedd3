#include "courier/subscription.hpp"

#include "courier/bus.hpp"

#include <gtest/gtest.h>

#include <memory>
#include <string>

namespace {

struct tick {};

template <class Bus>
class subscription_on : public ::testing::Test {};
using buses =
    ::testing::Types<courier::bus, courier::bus_st, courier::snapshot_bus, courier::snapshot_bus_st>;
TYPED_TEST_SUITE(subscription_on, buses);

TEST(subscription, an_empty_one_is_harmless) {
  courier::subscription empty;
  EXPECT_FALSE(empty.connected());
  EXPECT_EQ(empty.id(), courier::subscription_id{});
  empty.disconnect();
  auto block = empty.block();
  EXPECT_FALSE(block.blocking());
}

TYPED_TEST(subscription_on, moving_transfers_the_observer) {
  TypeParam bus;
  int calls = 0;
  auto first = bus.template subscribe<tick>([&](const tick&) { ++calls; });
  const auto id = first.id();
  courier::subscription second(std::move(first));
  EXPECT_FALSE(first.connected());
  EXPECT_TRUE(second.connected());
  EXPECT_EQ(second.id(), id);
  bus.publish(tick{});
  EXPECT_EQ(calls, 1);
}

TYPED_TEST(subscription_on, move_assignment_disconnects_the_old_observer) {
  TypeParam bus;
  int old_calls = 0;
  int new_calls = 0;
  auto held = bus.template subscribe<tick>([&](const tick&) { ++old_calls; });
  held = bus.template subscribe<tick>([&](const tick&) { ++new_calls; });
  bus.publish(tick{});
  EXPECT_EQ(old_calls, 0);
  EXPECT_EQ(new_calls, 1);
}

TYPED_TEST(subscription_on, disconnect_is_idempotent_and_stops_calls) {
  TypeParam bus;
  int calls = 0;
  auto sub = bus.template subscribe<tick>([&](const tick&) { ++calls; });
  sub.disconnect();
  sub.disconnect();
  EXPECT_FALSE(sub.connected());
  EXPECT_FALSE(bus.template has_observers<tick>());
  bus.publish(tick{});
  EXPECT_EQ(calls, 0);
}

// A handler holding its object (an object that keeps its own subscription)
// must not keep it alive once disconnect() returns, whether or not the
// subscription handle lives on.
TYPED_TEST(subscription_on, disconnect_lets_go_of_what_the_handler_captured) {
  TypeParam bus;
  auto captured = std::make_shared<int>(0);
  auto sub = bus.template subscribe<tick>([captured](const tick&) { ++*captured; });
  bus.publish(tick{});
  EXPECT_EQ(*captured, 1);
  EXPECT_EQ(captured.use_count(), 2);
  sub.disconnect();
  EXPECT_EQ(captured.use_count(), 1) << "the disconnected handler still holds its capture";
  EXPECT_EQ(sub.id() != courier::subscription_id{}, true);  // the handle itself lives on
}

TYPED_TEST(subscription_on, a_block_skips_the_observer_while_it_lives) {
  TypeParam bus;
  int calls = 0;
  auto sub = bus.template subscribe<tick>([&](const tick&) { ++calls; });
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

TYPED_TEST(subscription_on, ids_are_unique_and_print) {
  TypeParam bus;
  auto a = bus.template subscribe<tick>([](const tick&) {});
  auto b = bus.template subscribe<tick>([](const tick&) {});
  EXPECT_NE(a.id(), b.id());
  EXPECT_EQ(fmt::format("{}", a.id()), "subscription#" + std::to_string(a.id().value));
}

TYPED_TEST(subscription_on, may_outlive_its_bus) {
  courier::subscription sub;
  {
    TypeParam bus;
    sub = bus.template subscribe<tick>([](const tick&) {});
    EXPECT_TRUE(sub.connected());
  }
  EXPECT_FALSE(sub.connected());
  sub.disconnect();
}

}  // namespace
