// Bridges between channels and buses.
#include "courier/channel_bridge.hpp"

#include "courier/bus.hpp"
#include "courier/testing/recorder.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace {

using namespace std::chrono_literals;
using ::testing::ElementsAre;

struct pickup {
  int parcel;
  std::string vendor;
};

TEST(channel_bridge, a_fed_bus_sees_every_message_and_the_channel_gets_acks) {
  courier::channel<pickup> channel;
  courier::bus bus;
  courier::testing::recorder<pickup> seen(bus);
  std::vector<courier::delivery_receipt> receipts;
  {
    auto running = courier::feed(channel, bus, {.poll = 10ms});
    for (int n = 1; n <= 3; ++n)
      receipts.push_back(channel.send(pickup{n, "acme"}, {.track_delivery = true}).receipt);
    for (const auto& receipt : receipts) EXPECT_EQ(receipt.wait_for(10s), courier::delivery_outcome::acked);
  }
  std::vector<int> parcels;
  for (const auto& p : seen.events()) parcels.push_back(p.parcel);
  EXPECT_THAT(parcels, ElementsAre(1, 2, 3));
  EXPECT_EQ(channel.stats().waiting, 0U);
}

TEST(channel_bridge, an_observer_exception_nacks_so_the_message_comes_again) {
  courier::channel<pickup> channel;
  courier::bus bus;
  std::atomic<int> calls{0};
  auto observer = bus.subscribe<pickup>([&](const pickup&) {
    if (calls.fetch_add(1) == 0) throw std::runtime_error("driver unavailable");
  });
  {
    auto running = channel.consume([&bus](const pickup& p) { bus.publish(p); }, {.poll = 10ms},
                                   [](courier::message_id, std::exception_ptr) {});
    const auto sent = channel.send(pickup{1, "acme"}, {.track_delivery = true});
    EXPECT_EQ(sent.receipt.wait_for(10s), courier::delivery_outcome::acked);
  }
  EXPECT_EQ(calls.load(), 2);
  EXPECT_EQ(channel.stats().deliveries, 2U);
}

TEST(channel_bridge, route_sends_bus_events_into_a_fifo_channel_with_their_group) {
  courier::channel<pickup> channel({.ordering = courier::ordering::fifo});
  courier::bus bus;
  auto routed = courier::route<pickup>(bus, channel, [](const pickup& p) {
    return courier::send_options{.group = p.vendor, .idempotency_key = std::to_string(p.parcel)};
  });
  bus.publish(pickup{1, "acme"});
  bus.publish(pickup{1, "acme"});  // the same key: a duplicate, not a second message
  bus.publish(pickup{2, "zest"});
  const auto got = channel.receive(10);
  ASSERT_EQ(got.size(), 2U);
  EXPECT_EQ(got[0].group(), "acme");
  EXPECT_EQ(got[1].group(), "zest");
  EXPECT_EQ(channel.stats().duplicates, 1U);
}

TEST(channel_bridge, a_routed_send_that_fails_reaches_the_publisher) {
  courier::channel<pickup> channel({.ordering = courier::ordering::fifo});
  courier::bus bus;
  auto routed = courier::route<pickup>(bus, channel);  // no group: a FIFO channel refuses
  try {
    bus.publish(pickup{1, "acme"});
    FAIL() << "the failed send was swallowed";
  } catch (const courier::error& failure) {
    EXPECT_EQ(failure.code(), courier::errc::missing_group);
  }
}

}  // namespace
