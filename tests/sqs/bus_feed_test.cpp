// Several event types through one SQS queue onto a bus (fixture moto).
#include "courier/sqs/bus_feed.hpp"

#include "courier/bus.hpp"
#include "courier/channel_bridge.hpp"
#include "courier/testing/gtest.hpp"
#include "courier/testing/recorder.hpp"
#include "moto_env.hpp"

#include <gtest/gtest.h>
#include <boost/describe.hpp>

#include <cstdlib>
#include <fstream>
#include <string>
#include <vector>

struct picked_up {
  int parcel;
};
BOOST_DESCRIBE_STRUCT(picked_up, (), (parcel))

struct delivered {
  int parcel;
  std::string to;
};
BOOST_DESCRIBE_STRUCT(delivered, (), (parcel, to))

struct unrelated {
  int x;
};
BOOST_DESCRIBE_STRUCT(unrelated, (), (x))

namespace {

using namespace std::chrono_literals;

courier::sqs::client_options moto_options() { return courier_test::fixture_options(); }

TEST(sqs_bus_feed, two_event_types_share_a_queue_and_arrive_on_the_bus_as_themselves) {
  courier::sqs::client sqs(moto_options());
  const std::string url = sqs.create_queue("bus-feed-types.fifo", {{"FifoQueue", "true"}});
  courier::bus sender_side;
  courier::sqs::channel<picked_up> pickups(sqs, {.queue_url = url});
  courier::sqs::channel<delivered> deliveries(sqs, {.queue_url = url});
  courier::sqs::channel<unrelated> others(sqs, {.queue_url = url});
  // The sending process routes its bus events into the queue.
  auto route_pickups = courier::route<picked_up>(sender_side, pickups, [](const picked_up& p) {
    return courier::send_options{.group = "parcels", .idempotency_key = "pickup-" + std::to_string(p.parcel)};
  });
  sender_side.publish(picked_up{7});
  deliveries.send(delivered{7, "Zoë"}, {.group = "parcels", .idempotency_key = "delivered-7"});
  others.send(unrelated{1}, {.group = "parcels", .idempotency_key = "unrelated-1"});

  // The receiving process: one feed, two accepted types, its own bus.
  courier::bus receiver_side;
  courier::testing::recorder<picked_up> picked(receiver_side);
  courier::testing::recorder<delivered> dropped_off(receiver_side);
  std::vector<std::string> refused;
  std::mutex mutex;
  courier::sqs::bus_feed feed(sqs, url, receiver_side,
                              [&](const courier::sqs::received_message& m, const std::exception& e) {
                                std::lock_guard lock(mutex);
                                refused.push_back(m.body + ": " + e.what());
                              });
  feed.accept<picked_up>().accept<delivered>();
  {
    auto running = feed.start({.batch = 10});
    ASSERT_WAIT(picked.wait_for(1, 10s));
    ASSERT_WAIT(dropped_off.wait_for(1, 10s));
  }
  EXPECT_PUBLISHED_ONCE(picked, [](const picked_up& p) { return p.parcel == 7; });
  EXPECT_PUBLISHED_ONCE(dropped_off, [](const delivered& d) { return d.parcel == 7 && d.to == "Zoë"; });
  std::lock_guard lock(mutex);
  ASSERT_FALSE(refused.empty());  // the unrelated type was reported, not published
  EXPECT_NE(refused.front().find("no accepted type named unrelated"), std::string::npos) << refused.front();
  sqs.delete_queue(url);
}

}  // namespace
