#include "courier/testing/stepper.hpp"

#include "courier/bus.hpp"
#include "courier/testing/recorder.hpp"

#include <gtest/gtest.h>

namespace {

struct pickup {
  int parcel;
};
struct in_transit {
  int parcel;
};

TEST(stepper, nothing_posted_runs_until_the_test_says_so) {
  courier::bus bus({.executor = courier::executor_kind::manual});
  courier::testing::stepper steps(bus);
  courier::testing::recorder<pickup> pickups(bus);
  courier::testing::recorder<in_transit> transits(bus);
  // A driver that reacts to a pickup by posting in_transit.
  auto driver = bus.subscribe<pickup>([&](const pickup& p) { bus.post(in_transit{p.parcel}); });

  bus.post(pickup{1});
  bus.post(pickup{2});
  EXPECT_EQ(pickups.count(), 0U);

  EXPECT_TRUE(steps.run_one());
  EXPECT_EQ(pickups.count(), 1U);
  EXPECT_EQ(transits.count(), 0U);  // posted by the driver, not run yet

  EXPECT_EQ(steps.run_all(), 3U);  // pickup 2, in_transit 1, in_transit 2
  EXPECT_EQ(pickups.count(), 2U);
  EXPECT_EQ(transits.count(), 2U);
  EXPECT_FALSE(steps.run_one());
}

TEST(stepper, run_all_stops_observers_that_post_each_other_forever) {
  courier::bus_st bus;  // manual executor by default
  courier::testing::stepper steps(bus);
  auto ping = bus.subscribe<pickup>([&](const pickup& p) { bus.post(pickup{p.parcel + 1}); });
  bus.post(pickup{0});
  try {
    steps.run_all(50);
    FAIL() << "run_all returned from an endless loop";
  } catch (const courier::error& failure) {
    EXPECT_EQ(failure.code(), courier::errc::would_deadlock);
  }
}

TEST(stepper, a_bus_with_a_worker_thread_is_refused_clearly) {
  courier::bus bus;  // worker_thread executor
  courier::testing::stepper steps(bus);
  try {
    steps.run_one();
    FAIL() << "a stepper ran a bus that owns a worker";
  } catch (const courier::error& failure) {
    EXPECT_EQ(failure.code(), courier::errc::invalid_option);
  }
}

}  // namespace
