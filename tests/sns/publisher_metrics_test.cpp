// sns::publisher's figures on moto: publishes counted exactly, refusals
// counted apart, copies sharing one count, promtool accepting the text.
#include "courier/sns/publisher.hpp"

#include "../metric_samples.hpp"
#include "../promtool.hpp"
#include "../sqs/moto_env.hpp"
#include "courier/prometheus.hpp"

#include <gtest/gtest.h>
#include <boost/describe.hpp>

#include <string>

struct alarm_raised {
  int level;
};
BOOST_DESCRIBE_STRUCT(alarm_raised, (), (level))

namespace {

using courier_test::value_of;

TEST(sns_publisher_metrics, count_publishes_and_refusals_and_copies_share_the_count) {
  courier::sns::client sns(courier_test::fixture_options());
  auto registry = std::make_shared<courier::metrics_registry>();
  const std::string arn = sns.create_topic("publisher_metrics_alarms");
  courier::sns::publisher alarms(sns, arn, {.metrics = registry});
  courier::sns::publisher copy = alarms;
  alarms.publish(alarm_raised{1});
  copy.publish(alarm_raised{2});
  courier::sns::publisher nowhere(sns, "arn:aws:sns:us-east-1:123456789012:no-such-topic",
                                  {.metrics = registry, .name = "missing"});
  EXPECT_THROW(nowhere.publish(alarm_raised{3}), courier::aws::error);

  const auto metrics = registry->read();
  EXPECT_EQ(value_of(metrics, "messaging_client_sent_messages_total", "publisher_metrics_alarms"), 2);
  EXPECT_EQ(value_of(metrics, "courier_sns_publish_failures_total", "publisher_metrics_alarms"), 0);
  EXPECT_EQ(value_of(metrics, "courier_sns_publish_failures_total", "missing"), 1);
  EXPECT_EQ(value_of(metrics, "messaging_client_sent_messages_total", "missing"), 0);
  const std::string text = courier::render_prometheus(metrics);
  EXPECT_NE(text.find("messaging_system=\"aws_sns\""), std::string::npos) << text;
  const auto [status, said] = courier_test::promtool_check(text);
  EXPECT_EQ(status, 0) << said << "\n" << text;
  sns.delete_topic(arn);
}

}  // namespace
