// Events published on one bus reaching the buses of several services through
// an SNS topic, each service with its own SQS queue (fixture moto): filter
// policies by type, FIFO order per group, dedup, and subscribe_queue run
// again.
#include "courier/sns/subscribe_queue.hpp"

#include "../sqs/moto_env.hpp"
#include "courier/bus.hpp"
#include "courier/channel_bridge.hpp"
#include "courier/sns/publisher.hpp"
#include "courier/sqs/bus_feed.hpp"
#include "courier/sqs/receipt_inbox.hpp"
#include "courier/testing/gtest.hpp"
#include "courier/testing/recorder.hpp"

#include <gtest/gtest.h>
#include <boost/describe.hpp>
#include <boost/json.hpp>

#include <chrono>
#include <map>
#include <numeric>
#include <string>
#include <thread>
#include <vector>

struct pickup {
  std::string vendor;
  int parcel;
};
BOOST_DESCRIBE_STRUCT(pickup, (), (vendor, parcel))

struct delivered {
  int parcel;
  std::string to;
};
BOOST_DESCRIBE_STRUCT(delivered, (), (parcel, to))

namespace {

using namespace std::chrono_literals;
using courier::sns::event_types;

courier::aws::client_options moto_options() { return courier_test::fixture_options(); }

// A key no other publish of the run has: FIFO topics keep dedup ids for
// five minutes.
std::string aws_unique_key() { return courier::aws::random_id(); }

// Waits until the queue holds no message, visible or in flight: every
// message was read and acked. False if it still holds some at the deadline.
bool drained(courier::sqs::client& sqs, const std::string& url, std::chrono::seconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    auto counts = sqs.get_queue_attributes(
        url, {"ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"});
    if (counts["ApproximateNumberOfMessages"] == "0" &&
        counts["ApproximateNumberOfMessagesNotVisible"] == "0")
      return true;
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(50ms);  // the queue's state is only known by asking
  }
}

// One subscribing service: its queue, its bus, what its bus saw.
struct service {
  courier::sqs::client& sqs;
  courier::sns::queue_subscription queue;
  courier::bus bus;
  courier::testing::recorder<pickup> pickups{bus};
  courier::testing::recorder<delivered> deliveries{bus};
  courier::sqs::bus_feed<courier::bus> feed{sqs, queue.queue_url, bus};
  std::optional<courier::consumer> running;

  service(courier::sqs::client& client, courier::sns::queue_subscription subscription)
      : sqs(client), queue(std::move(subscription)) {
    feed.accept<pickup>().accept<delivered>();
  }
  void start(std::shared_ptr<courier::idempotent_store> store = {}) {
    if (store) feed.apply_once_with(std::move(store));
    running.emplace(feed.start({.batch = 10}));
  }
  ~service() {
    running.reset();
    sqs.delete_queue(queue.queue_url);
  }
};

TEST(sns_fan_out, each_service_gets_its_own_copy_of_the_types_it_accepts) {
  courier::sns::client sns(moto_options());
  courier::sqs::client sqs(moto_options());
  const std::string topic = sns.create_topic("fan-out-types");
  service hub(sqs, courier::sns::subscribe_queue(sns, sqs, topic, "fan-out-hub",
                                                 {.types = event_types<pickup, delivered>()}));
  service drivers(sqs, courier::sns::subscribe_queue(sns, sqs, topic, "fan-out-drivers",
                                                     {.types = event_types<pickup>()}));
  service vendors(sqs, courier::sns::subscribe_queue(sns, sqs, topic, "fan-out-vendors",
                                                     {.types = event_types<delivered>()}));

  // Process A: its bus's events forwarded to the topic.
  courier::bus publisher_side;
  courier::sns::topic<pickup> pickups(sns, topic);
  courier::sns::topic<delivered> deliveries(sns, topic);
  auto forward_pickups = courier::route<pickup>(publisher_side, pickups);
  auto forward_deliveries = courier::route<delivered>(publisher_side, deliveries);
  for (int parcel = 1; parcel <= 3; ++parcel) publisher_side.publish(pickup{"acme", parcel});
  publisher_side.publish(delivered{1, "Zoë"});

  for (auto* s : {&hub, &drivers, &vendors}) s->start();
  ASSERT_WAIT(hub.pickups.wait_for(3, 20s));
  ASSERT_WAIT(hub.deliveries.wait_for(1, 20s));
  ASSERT_WAIT(drivers.pickups.wait_for(3, 20s));
  ASSERT_WAIT(vendors.deliveries.wait_for(1, 20s));
  // Every queue read to the end: nothing else came, the filter policies
  // kept the other types out.
  for (auto* s : {&hub, &drivers, &vendors}) {
    ASSERT_TRUE(drained(sqs, s->queue.queue_url, 20s)) << s->queue.queue_url;
    s->running.reset();
  }
  EXPECT_EQ(hub.pickups.count(), 3u);
  EXPECT_EQ(hub.deliveries.count(), 1u);
  EXPECT_EQ(drivers.pickups.count(), 3u);
  EXPECT_EQ(drivers.deliveries.count(), 0u);
  EXPECT_EQ(vendors.pickups.count(), 0u);
  EXPECT_EQ(vendors.deliveries.count(), 1u);
  sns.delete_topic(topic);
}

TEST(sns_fan_out, a_service_can_take_only_some_groups) {
  courier::sns::client sns(moto_options());
  courier::sqs::client sqs(moto_options());
  const std::string topic = sns.create_topic("fan-out-groups.fifo", {.fifo = true});
  service acme(sqs, courier::sns::subscribe_queue(sns, sqs, topic, "fan-out-groups-acme.fifo",
                                                  {.types = event_types<pickup>(), .groups = {"acme"}}));
  courier::sns::publisher events(sns, topic);
  for (const char* vendor : {"globex", "acme", "globex", "acme"}) {
    events.publish(pickup{vendor, 1}, {.group = vendor, .idempotency_key = aws_unique_key()});
  }
  events.publish(delivered{1, "Zoë"},
                 {.group = "acme", .idempotency_key = aws_unique_key()});  // acme, but no pickup
  acme.start();
  ASSERT_WAIT(acme.pickups.wait_for(2, 20s));
  ASSERT_TRUE(drained(sqs, acme.queue.queue_url, 20s));
  acme.running.reset();
  EXPECT_EQ(acme.pickups.count(), 2u);
  for (const auto& p : acme.pickups.events()) EXPECT_EQ(p.vendor, "acme");
  EXPECT_EQ(acme.deliveries.count(), 0u);
  EXPECT_EQ(courier::sns::filter_policy(event_types<pickup>(), {"acme"}),
            R"({"courier.type":["pickup"],"courier.group":["acme"]})");
  sns.delete_topic(topic);
}

TEST(sns_fan_out, a_fifo_topic_keeps_each_group_in_order_for_every_subscriber) {
  courier::sns::client sns(moto_options());
  courier::sqs::client sqs(moto_options());
  const std::string topic = sns.create_topic("fan-out-order.fifo", {.fifo = true});
  std::vector<std::unique_ptr<service>> services;
  for (const char* name : {"fan-out-order-a.fifo", "fan-out-order-b.fifo", "fan-out-order-c.fifo"}) {
    services.push_back(std::make_unique<service>(sqs, courier::sns::subscribe_queue(sns, sqs, topic, name)));
  }
  courier::sns::publisher events(sns, topic);
  constexpr int per_vendor = 8;
  for (int parcel = 0; parcel < per_vendor; ++parcel) {
    for (const char* vendor : {"acme", "globex"}) {
      events.publish(pickup{vendor, parcel},
                     {.group = vendor, .idempotency_key = fmt::format("{}-{}", vendor, parcel)});
    }
  }
  for (auto& s : services) s->start();
  for (auto& s : services) {
    ASSERT_WAIT(s->pickups.wait_for(2 * per_vendor, 20s));
    s->running.reset();
    std::map<std::string, std::vector<int>> seen;
    for (const auto& p : s->pickups.events()) seen[p.vendor].push_back(p.parcel);
    for (const char* vendor : {"acme", "globex"}) {
      std::vector<int> expected(per_vendor);
      std::iota(expected.begin(), expected.end(), 0);
      EXPECT_EQ(seen[vendor], expected) << s->queue.queue_url << " " << vendor;
    }
  }
  sns.delete_topic(topic);
}

TEST(sns_fan_out, a_publish_repeated_with_its_key_is_one_event_on_a_fifo_topic) {
  courier::sns::client sns(moto_options());
  courier::sqs::client sqs(moto_options());
  const std::string topic = sns.create_topic("fan-out-dedup.fifo", {.fifo = true});
  service hub(sqs, courier::sns::subscribe_queue(sns, sqs, topic, "fan-out-dedup.fifo"));
  courier::sns::publisher events(sns, topic);
  const auto first = events.publish(pickup{"acme", 7}, {.group = "acme", .idempotency_key = "parcel-7"});
  const auto again = events.publish(pickup{"acme", 7}, {.group = "acme", .idempotency_key = "parcel-7"});
  EXPECT_EQ(first.id, "parcel-7");
  EXPECT_EQ(again.id, "parcel-7");
  events.publish(pickup{"acme", 8}, {.group = "acme", .idempotency_key = "parcel-8"});
  hub.start();
  ASSERT_WAIT(hub.pickups.wait_for(2, 20s));  // parcel 8 came: 7 was handled before it
  hub.running.reset();
  EXPECT_PUBLISHED_ONCE(hub.pickups, [](const pickup& p) { return p.parcel == 7; });
  EXPECT_EQ(hub.pickups.count(), 2u);
  sns.delete_topic(topic);
}

TEST(sns_fan_out, on_a_standard_topic_the_subscribers_store_turns_a_repeated_publish_away) {
  courier::sns::client sns(moto_options());
  courier::sqs::client sqs(moto_options());
  const std::string topic = sns.create_topic("fan-out-standard-dedup");
  service hub(sqs, courier::sns::subscribe_queue(sns, sqs, topic, "fan-out-standard-dedup"));
  courier::sns::publisher events(sns, topic);
  // A standard topic dedups nothing: both copies reach the queue, with the
  // same courier.id.
  events.publish(pickup{"acme", 7}, {.idempotency_key = "parcel-7"});
  events.publish(pickup{"acme", 7}, {.idempotency_key = "parcel-7"});
  events.publish(pickup{"acme", 8}, {});
  auto store = std::make_shared<courier::memory_idempotent_store>();
  hub.start(store);
  ASSERT_WAIT(hub.pickups.wait_for(2, 20s));
  ASSERT_TRUE(drained(sqs, hub.queue.queue_url, 20s));  // the repeat was read and turned away
  hub.running.reset();
  EXPECT_PUBLISHED_ONCE(hub.pickups, [](const pickup& p) { return p.parcel == 7; });
  EXPECT_EQ(hub.pickups.count(), 2u);
  sns.delete_topic(topic);
}

TEST(sns_fan_out, every_subscribing_service_answers_a_tracked_publish_on_its_own) {
  courier::sns::client sns(moto_options());
  courier::sqs::client sqs(moto_options());
  const std::string topic = sns.create_topic("fan-out-receipts.fifo", {.fifo = true});
  service hub(sqs, courier::sns::subscribe_queue(sns, sqs, topic, "fan-out-receipts-hub.fifo"));
  service drivers(sqs, courier::sns::subscribe_queue(sns, sqs, topic, "fan-out-receipts-drivers.fifo",
                                                     {.types = event_types<pickup>()}));
  service vendors(sqs, courier::sns::subscribe_queue(sns, sqs, topic, "fan-out-receipts-vendors.fifo",
                                                     {.types = event_types<delivered>()}));
  hub.feed.answer_as("hub");
  drivers.feed.answer_as("drivers");
  vendors.feed.answer_as("vendors");
  for (auto* s : {&hub, &drivers, &vendors}) s->start();

  auto inbox = std::make_shared<courier::sqs::receipt_inbox>(sqs);
  courier::sns::publisher events(sns, topic, {.receipts = inbox});
  const auto published =
      events.publish(pickup{"acme", 7}, {.group = "acme", .track_delivery = true, .receipt_timeout = 5s});
  EXPECT_EQ(published.receipts.wait_all({"hub", "drivers"}),
            (std::map<std::string, courier::delivery_outcome>{{"drivers", courier::delivery_outcome::acked},
                                                              {"hub", courier::delivery_outcome::acked}}));
  EXPECT_EQ(published.receipt.get(), courier::delivery_outcome::acked);  // the first to answer
  // The vendors' filter keeps pickups out: they never answer, and the
  // sender learns that at its deadline.
  EXPECT_EQ(published.receipts.from("vendors").get(), courier::delivery_outcome::timed_out);
  EXPECT_EQ(published.receipts.received().size(), 2u);
  EXPECT_EQ(vendors.pickups.count(), 0u);
  sns.delete_topic(topic);
}

TEST(sns_fan_out, subscribing_again_changes_the_filter_and_keeps_one_subscription_and_policy_statement) {
  courier::sns::client sns(moto_options());
  courier::sqs::client sqs(moto_options());
  const std::string topic = sns.create_topic("fan-out-again");
  const std::string other_topic = sns.create_topic("fan-out-again-other");
  const auto first =
      courier::sns::subscribe_queue(sns, sqs, topic, "fan-out-again", {.types = event_types<pickup>()});
  const auto second =
      courier::sns::subscribe_queue(sns, sqs, topic, "fan-out-again", {.types = event_types<delivered>()});
  EXPECT_EQ(second.queue_url, first.queue_url);
  EXPECT_EQ(second.subscription_arn, first.subscription_arn);
  EXPECT_EQ(sns.list_subscriptions_by_topic(topic).size(), 1u);
  const auto filter =
      boost::json::parse(sns.get_subscription_attributes(first.subscription_arn)["FilterPolicy"]);
  EXPECT_EQ(filter, boost::json::parse(R"({"courier.type":["delivered"]})"));

  // A second topic on the same queue adds its statement beside the first.
  courier::sns::subscribe_queue(sns, sqs, other_topic, "fan-out-again");
  const auto policy =
      boost::json::parse(sqs.get_queue_attributes(first.queue_url, {"Policy"})["Policy"]).as_object();
  const auto& statements = policy.at("Statement").as_array();
  ASSERT_EQ(statements.size(), 2u);
  EXPECT_EQ(statements[0].at("Condition").at("ArnEquals").at("aws:SourceArn"), boost::json::value(topic));
  EXPECT_EQ(statements[1].at("Condition").at("ArnEquals").at("aws:SourceArn"),
            boost::json::value(other_topic));
  EXPECT_EQ(statements[0].at("Principal").at("Service"), "sns.amazonaws.com");
  EXPECT_EQ(statements[0].at("Action"), "sqs:SendMessage");

  sqs.delete_queue(first.queue_url);
  sns.delete_topic(topic);
  sns.delete_topic(other_topic);
}

TEST(sns_fan_out, a_fifo_queue_on_a_standard_topic_is_refused_with_both_names) {
  courier::sns::client sns(moto_options());
  courier::sqs::client sqs(moto_options());
  const std::string topic = sns.create_topic("fan-out-mismatch");
  try {
    courier::sns::subscribe_queue(sns, sqs, topic, "fan-out-mismatch.fifo");
    FAIL() << "subscribed";
  } catch (const courier::error& e) {
    EXPECT_EQ(e.code(), courier::errc::invalid_option);
    EXPECT_NE(std::string(e.what()).find("fan-out-mismatch.fifo"), std::string::npos) << e.what();
  }
  sns.delete_topic(topic);
}

TEST(sns_fan_out, a_fifo_publish_needs_a_group_and_no_publish_has_a_delay) {
  courier::sns::client sns(moto_options());
  courier::sns::publisher fifo(sns, "arn:aws:sns:us-east-1:123456789012:t.fifo");
  courier::sns::publisher standard(sns, "arn:aws:sns:us-east-1:123456789012:t");
  try {
    (void)fifo.encode(pickup{"acme", 1});
    FAIL() << "encoded";
  } catch (const courier::error& e) {
    EXPECT_EQ(e.code(), courier::errc::missing_group);
  }
  try {
    (void)standard.encode(pickup{"acme", 1}, {.delay = 1s});
    FAIL() << "encoded";
  } catch (const courier::error& e) {
    EXPECT_EQ(e.code(), courier::errc::invalid_option);
  }
  // Without a key, every publish gets an id of its own, and on a FIFO
  // topic that id is the dedup id (a retried request carries it again).
  const auto a = fifo.encode(pickup{"acme", 1}, {.group = "acme"});
  const auto b = fifo.encode(pickup{"acme", 1}, {.group = "acme"});
  EXPECT_EQ(a.message_attributes.at("courier.id").value.size(), 32u);
  EXPECT_NE(a.message_attributes.at("courier.id").value, b.message_attributes.at("courier.id").value);
  EXPECT_EQ(a.deduplication_id, a.message_attributes.at("courier.id").value);
  EXPECT_EQ(a.message_attributes.at("courier.type").value, "pickup");
  EXPECT_EQ(standard.encode(pickup{"acme", 1}).deduplication_id, "");
}

}  // namespace
