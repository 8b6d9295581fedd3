// Testing event-driven code with courier::testing: the parcel service's
// promises, checked without sleeps, real servers or luck. docs/testing.md
// walks through it.
#include "parcel/parcel_service.hpp"

#include <courier/testing/faulty.hpp>
#include <courier/testing/gtest.hpp>
#include <courier/testing/recorder.hpp>
#include <courier/testing/stepper.hpp>

#include <gtest/gtest.h>

#include <chrono>
#include <memory>

namespace {

using namespace std::chrono_literals;
using namespace parcel_service;

auto parcel_is(int number) {
  return [number](const auto& event) { return event.parcel == number; };
}

// Step 1: record what the code under test publishes, and assert on it.
TEST(parcel_service, a_parcel_is_delivered_once_though_the_vendor_retries) {
  courier::bus bus;
  dispatch orders(dispatch_options());
  vendor acme("acme", orders, bus);
  driver ana("ana", bus);
  courier::testing::recorder<delivered> deliveries(bus);

  acme.ship(7);
  EXPECT_TRUE(acme.ship(7).duplicate);  // the retry after a lost response

  for (auto& pickup : orders.receive(10)) {
    ana(pickup.message());
    pickup.ack();
  }
  EXPECT_PUBLISHED_ONCE(deliveries, parcel_is(7));
}

// Step 2: order, across a whole sequence of events.
TEST(parcel_service, a_vendors_parcels_are_delivered_in_the_order_shipped) {
  courier::bus bus;
  dispatch orders(dispatch_options());
  vendor acme("acme", orders, bus);
  vendor bolt("bolt", orders, bus);
  driver ana("ana", bus);
  courier::testing::recorder<delivered> deliveries(bus);

  for (int parcel : {1, 2, 3}) acme.ship(parcel);
  for (int parcel : {10, 11}) bolt.ship(parcel);
  auto running = orders.consume(std::ref(ana));
  // wait_for returns as soon as the fifth delivery is recorded; on timeout
  // the failure lists what was delivered.
  ASSERT_WAIT(deliveries.wait_for(5, 10s));
  EXPECT_PUBLISHED_IN_ORDER(deliveries, parcel_is(1), parcel_is(2), parcel_is(3));
  EXPECT_PUBLISHED_IN_ORDER(deliveries, parcel_is(10), parcel_is(11));
}

// Step 3: async code, one step at a time. The bus runs posted events only
// when the test says so.
TEST(parcel_service, the_vendor_thanks_the_driver_after_the_delivery) {
  courier::bus bus({.executor = courier::executor_kind::manual});
  courier::testing::stepper steps(bus);
  dispatch orders(dispatch_options());
  vendor acme("acme", orders, bus);
  driver ana("ana", bus);
  courier::testing::recorder<thanks> thanked(bus);

  acme.ship(7);
  ana(orders.receive(1).at(0).message());
  EXPECT_NEVER_PUBLISHED(thanked, parcel_is(7));  // posted, not run yet
  EXPECT_TRUE(steps.run_one());
  EXPECT_PUBLISHED(thanked, [](const thanks& t) { return t.parcel == 7 && t.driver == "ana"; });
  EXPECT_FALSE(steps.run_one());
}

// Step 4: time and faults. A manual clock makes the visibility timeout pass
// at once; losing_acks makes the driver's confirmation get lost.
TEST(parcel_service, a_lost_confirmation_brings_the_pickup_back_and_nothing_is_delivered_twice) {
  courier::bus bus;
  auto clock = std::make_shared<courier::manual_clock>();
  auto options = dispatch_options();
  options.visibility_timeout = 30s;
  options.time_source = clock;
  dispatch orders(options);
  vendor acme("acme", orders, bus);
  driver ana("ana", bus);
  courier::testing::recorder<delivered> deliveries(bus);
  auto flaky_ana = courier::testing::losing_acks(std::ref(ana), courier::testing::fault_dice::nth(1));

  const auto shipped = acme.ship(7);
  auto first = orders.receive(1);
  flaky_ana(first.at(0));  // delivered, confirmation lost
  EXPECT_FALSE(shipped.receipt.peek().has_value());

  clock->advance(31s);  // the pickup's visibility timeout passes
  auto again = orders.receive(1);
  ASSERT_EQ(again.size(), 1U);
  EXPECT_EQ(again[0].receive_count(), 2U);
  flaky_ana(again[0]);
  again[0].ack();

  EXPECT_EQ(shipped.receipt.peek(), courier::delivery_outcome::acked);  // the vendor's receipt resolved
  EXPECT_PUBLISHED_ONCE(deliveries, parcel_is(7));
}

}  // namespace
