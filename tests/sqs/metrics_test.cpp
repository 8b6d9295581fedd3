// sqs::channel's figures after a scripted run on moto: exact counts of what
// this process did, the queue's depth as SQS reports it, promtool accepting
// the exposition, and a queue that cannot be read reported as such.
#include "courier/sqs/channel.hpp"

#include "../metric_samples.hpp"
#include "../promtool.hpp"
#include "courier/prometheus.hpp"
#include "queue_fixture.hpp"

#include <gtest/gtest.h>
#include <boost/describe.hpp>

#include <chrono>
#include <string>
#include <utility>
#include <vector>

struct crate {
  int number;
};
BOOST_DESCRIBE_STRUCT(crate, (), (number))

namespace {

using courier_test::value_of;

using namespace std::chrono_literals;
using sqs_metrics = courier_test::queue_fixture;

TEST_F(sqs_metrics, count_what_this_process_did_and_read_the_queues_depth_from_sqs) {
  auto registry = std::make_shared<courier::metrics_registry>();
  const std::string url = queue(false);
  const std::string name = courier::sqs::queue_name_of(url);
  courier::sqs::channel<crate> crates(sqs, {.queue_url = url, .metrics = registry});
  for (int n = 1; n <= 4; ++n) crates.send(crate{n});
  const std::vector<std::pair<crate, courier::send_options>> fifth = {{crate{5}, {}}};
  ASSERT_TRUE(crates.send_batch(fifth).at(0).accepted);

  auto first = crates.receive(1, 1s);
  ASSERT_EQ(first.size(), 1u);
  first[0].ack();
  auto second = crates.receive(1, 1s);
  ASSERT_EQ(second.size(), 1u);
  second[0].nack();  // visible again at once: its next receive is a redelivery
  std::vector<courier::sqs::delivery<crate>> rest;
  const auto deadline = std::chrono::steady_clock::now() + 10s;
  while (rest.size() < 4) {
    ASSERT_LT(std::chrono::steady_clock::now(), deadline) << "got " << rest.size() << " of 4";
    for (auto& item : crates.receive(10, 1s)) rest.push_back(std::move(item));
  }
  const std::vector<courier::sqs::sqs_receipt> two = {rest[0].receipt(), rest[1].receipt()};
  ASSERT_TRUE(crates.ack(two).ok());  // two left received and not deleted

  const auto metrics = registry->read();
  auto value = [&](const char* metric) { return value_of(metrics, metric, name); };
  EXPECT_EQ(value("messaging_client_sent_messages_total"), 5);
  EXPECT_EQ(value("messaging_client_consumed_messages_total"), 6);
  EXPECT_EQ(value("courier_sqs_redeliveries_total"), 1);
  EXPECT_EQ(value("courier_sqs_acked_total"), 3);
  EXPECT_EQ(value("courier_sqs_nacked_total"), 1);
  EXPECT_EQ(value("courier_sqs_malformed_total"), 0);
  EXPECT_EQ(value("courier_sqs_queue_read_failed"), 0);
  EXPECT_EQ(value("courier_sqs_queue_messages_visible"), 0);
  EXPECT_EQ(value("courier_sqs_queue_messages_not_visible"), 2);
  EXPECT_EQ(value("courier_sqs_queue_messages_delayed"), 0);
  const auto& send_to_ack =
      courier_test::sample_of(metrics, "courier_sqs_send_to_ack_seconds", "messaging_destination_name", name);
  EXPECT_EQ(send_to_ack.count, 1u)
      << "the one acked through its delivery (an ack by receipt has no SentTimestamp)";
  EXPECT_GE(send_to_ack.sum, 0.0);
  const std::string text = courier::render_prometheus(metrics);
  EXPECT_NE(text.find("messaging_system=\"aws_sqs\""), std::string::npos) << text;
  const auto [status, said] = courier_test::promtool_check(text);
  EXPECT_EQ(status, 0) << said << "\n" << text;
}

TEST_F(sqs_metrics, a_message_that_does_not_decode_is_counted_as_malformed) {
  auto registry = std::make_shared<courier::metrics_registry>();
  const std::string url = queue(false);
  courier::sqs::channel<crate> crates(
      sqs, {.queue_url = url,
            .on_malformed = [](const courier::sqs::received_message&, const std::exception&) {},
            .metrics = registry,
            .name = "crates"});
  courier::sqs::outgoing_message junk;
  junk.body = "{\"number\": \"seven\"}";
  junk.message_attributes[courier::sqs::channel<crate>::type_attribute] = {"String", "crate"};
  sqs.send_message(url, junk);
  EXPECT_TRUE(crates.receive(1, 1s).empty());
  const auto metrics = registry->read();
  EXPECT_EQ(value_of(metrics, "courier_sqs_malformed_total", "crates"), 1);
  EXPECT_EQ(value_of(metrics, "messaging_client_consumed_messages_total", "crates"), 0);
}

TEST_F(sqs_metrics, a_queue_sqs_cannot_read_is_reported_and_the_scrape_goes_on) {
  auto registry = std::make_shared<courier::metrics_registry>();
  courier::sqs::channel<crate> nowhere(
      sqs, {.queue_url = sqs.settings().endpoint + "/123456789012/no-such-queue", .metrics = registry});
  const auto metrics = registry->read();
  EXPECT_EQ(value_of(metrics, "courier_sqs_queue_read_failed", "no-such-queue"), 1);
  EXPECT_EQ(metrics.find("courier_sqs_queue_messages_visible"), nullptr);
  EXPECT_EQ(value_of(metrics, "messaging_client_sent_messages_total", "no-such-queue"), 0);
}

}  // namespace
