// courier::sns::client against moto_server's SNS (fixture moto): topics,
// publishing, subscriptions, and what reaches a subscribed queue.
#include "courier/sns/client.hpp"

#include "../sqs/moto_env.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <vector>

namespace {

using namespace std::chrono_literals;

courier::sns::client_options moto_options() { return courier_test::fixture_options(); }

// A queue subscribed to topic with raw delivery (the way subscribe_queue
// does it, spelled out here so the client's own calls are what is tested).
struct raw_queue {
  std::string url;
  std::string arn;
  std::string subscription;
};

raw_queue subscribe_raw(courier::sns::client& sns, courier::sqs::client& sqs, const std::string& topic,
                        const std::string& name) {
  raw_queue out;
  out.url = sqs.create_queue(name, name.ends_with(".fifo")
                                       ? std::map<std::string, std::string>{{"FifoQueue", "true"}}
                                       : std::map<std::string, std::string>{});
  out.arn = sqs.get_queue_attributes(out.url, {"QueueArn"})["QueueArn"];
  out.subscription = sns.subscribe(topic, "sqs", out.arn, {{"RawMessageDelivery", "true"}});
  return out;
}

std::vector<courier::sqs::received_message> receive_all(courier::sqs::client& sqs, const std::string& url,
                                                        std::size_t expected) {
  std::vector<courier::sqs::received_message> out;
  for (int polls = 0; polls < 20 && out.size() < expected; ++polls) {
    for (auto& m : sqs.receive_message(url, {.max_messages = 10, .wait = 1s})) out.push_back(std::move(m));
  }
  return out;
}

TEST(sns_client, create_topic_answers_the_same_arn_for_the_same_name) {
  courier::sns::client sns(moto_options());
  const std::string arn = sns.create_topic("client-same-name");
  EXPECT_TRUE(arn.starts_with("arn:aws:sns:us-east-1:")) << arn;
  EXPECT_TRUE(arn.ends_with(":client-same-name")) << arn;
  EXPECT_EQ(sns.create_topic("client-same-name"), arn);
  EXPECT_EQ(sns.get_topic_attributes(arn)["TopicArn"], arn);
  sns.delete_topic(arn);
}

TEST(sns_client, a_fifo_topic_says_so_in_its_attributes) {
  courier::sns::client sns(moto_options());
  const std::string arn =
      sns.create_topic("client-fifo.fifo", {.fifo = true, .content_based_deduplication = true});
  auto attributes = sns.get_topic_attributes(arn);
  EXPECT_EQ(attributes["FifoTopic"], "true");
  EXPECT_EQ(attributes["ContentBasedDeduplication"], "true");
  sns.delete_topic(arn);
}

TEST(sns_client, a_published_message_reaches_a_raw_subscriber_with_its_body_and_attributes) {
  courier::sns::client sns(moto_options());
  courier::sqs::client sqs(moto_options());
  const std::string topic = sns.create_topic("client-publish");
  const auto queue = subscribe_raw(sns, sqs, topic, "client-publish-q");
  const std::string body = R"({"parcel":7,"to":"Zoë & <Ann>"})";  // XML- and form-special characters
  const auto done = sns.publish(topic, {.body = body,
                                        .message_attributes = {{"courier.type", {"String", "delivered"}},
                                                               {"weight", {"Number", "2.5"}}}});
  EXPECT_FALSE(done.message_id.empty());
  const auto got = receive_all(sqs, queue.url, 1);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].body, body);
  EXPECT_EQ(got[0].message_attributes.at("courier.type").value, "delivered");
  EXPECT_EQ(got[0].message_attributes.at("weight"), (courier::sqs::attribute{"Number", "2.5"}));
  // (Not a Binary attribute here: moto's SNS hands one to its SQS as text,
  // and its ReceiveMessage then fails hashing it. SNS on AWS passes it.)
  sqs.delete_queue(queue.url);
  sns.delete_topic(topic);
}

TEST(sns_client, a_batch_answers_each_entry_and_fifo_entries_carry_their_group) {
  courier::sns::client sns(moto_options());
  courier::sqs::client sqs(moto_options());
  const std::string topic = sns.create_topic("client-batch.fifo", {.fifo = true});
  const auto queue = subscribe_raw(sns, sqs, topic, "client-batch-q.fifo");
  std::vector<courier::sns::outgoing_message> batch;
  for (int i = 0; i < 3; ++i) {
    batch.push_back({.body = "m" + std::to_string(i),
                     .group_id = "g",
                     .deduplication_id = "d" + std::to_string(i),
                     .entry_id = "e" + std::to_string(i)});
  }
  const auto result = sns.publish_batch(topic, batch);
  ASSERT_EQ(result.successful.size(), 3u);
  EXPECT_TRUE(result.failed.empty());
  EXPECT_EQ(result.successful[0].first, "e0");
  EXPECT_FALSE(result.successful[0].second.message_id.empty());
  const auto got = receive_all(sqs, queue.url, 3);
  ASSERT_EQ(got.size(), 3u);
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(got[i].body, "m" + std::to_string(i));
    EXPECT_EQ(got[i].system_attribute("MessageGroupId"), "g");
    EXPECT_EQ(got[i].system_attribute("MessageDeduplicationId"), "d" + std::to_string(i));
  }
  sqs.delete_queue(queue.url);
  sns.delete_topic(topic);
}

TEST(sns_client, an_oversized_message_is_refused_before_it_is_sent) {
  courier::sns::client sns(moto_options());
  const std::size_t before = sns.requests_made();
  try {
    sns.publish("arn:aws:sns:us-east-1:123456789012:nowhere", {.body = std::string(256 * 1024 + 1, 'x')});
    FAIL() << "published";
  } catch (const courier::aws::error& e) {
    EXPECT_EQ(e.aws_code(), "MessageTooLong");
    EXPECT_NE(std::string(e.what()).find("262145 bytes"), std::string::npos) << e.what();
  }
  EXPECT_EQ(sns.requests_made(), before);
}

TEST(sns_client, subscriptions_are_listed_changed_and_removed) {
  courier::sns::client sns(moto_options());
  courier::sqs::client sqs(moto_options());
  const std::string topic = sns.create_topic("client-subscriptions");
  const auto queue = subscribe_raw(sns, sqs, topic, "client-subscriptions-q");
  auto listed = sns.list_subscriptions_by_topic(topic);
  ASSERT_EQ(listed.size(), 1u);
  EXPECT_EQ(listed[0].subscription_arn, queue.subscription);
  EXPECT_EQ(listed[0].protocol, "sqs");
  EXPECT_EQ(listed[0].endpoint, queue.arn);
  EXPECT_EQ(listed[0].topic_arn, topic);

  sns.set_subscription_attributes(queue.subscription, "FilterPolicy", R"({"courier.type":["pickup"]})");
  auto attributes = sns.get_subscription_attributes(queue.subscription);
  EXPECT_EQ(attributes["RawMessageDelivery"], "true");
  EXPECT_NE(attributes["FilterPolicy"].find("pickup"), std::string::npos) << attributes["FilterPolicy"];

  sns.unsubscribe(queue.subscription);
  EXPECT_TRUE(sns.list_subscriptions_by_topic(topic).empty());
  sqs.delete_queue(queue.url);
  sns.delete_topic(topic);
}

TEST(sns_client, publishing_to_a_missing_topic_names_the_service_action_and_code) {
  courier::sns::client sns(moto_options());
  try {
    sns.publish("arn:aws:sns:us-east-1:123456789012:no-such-topic", {.body = "x"});
    FAIL() << "published";
  } catch (const courier::aws::error& e) {
    EXPECT_EQ(e.service(), "SNS");
    EXPECT_EQ(e.operation(), "Publish");
    EXPECT_EQ(e.aws_code(), "NotFound");
  }
}

TEST(sns_client, many_subscriptions_are_read_across_pages) {
  courier::sns::client sns(moto_options());
  courier::sqs::client sqs(moto_options());
  const std::string topic = sns.create_topic("client-pages");
  // SNS answers 100 subscriptions a page.
  for (int i = 0; i < 105; ++i) {
    sns.subscribe(topic, "sqs", "arn:aws:sqs:us-east-1:123456789012:page-" + std::to_string(i));
  }
  const auto listed = sns.list_subscriptions_by_topic(topic);
  EXPECT_EQ(listed.size(), 105u);
  for (const auto& s : listed) sns.unsubscribe(s.subscription_arn);
  sns.delete_topic(topic);
}

}  // namespace
