// courier::sqs::client against a real SQS API: moto_server on loopback,
// started by the CTest fixture in moto.sh.
#include "courier/sqs/client.hpp"

#include "moto_env.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <fstream>
#include <string>
#include <vector>

namespace {

using namespace std::chrono_literals;
using ::testing::ElementsAre;

courier::sqs::client_options moto_options() { return courier_test::fixture_options(); }

// A queue name no other test (or earlier run) uses.
std::string unique_name(const std::string& stem, bool fifo) {
  static std::atomic<int> counter{0};
  const auto stamp = std::chrono::steady_clock::now().time_since_epoch().count();
  return stem + "-" + std::to_string(stamp % 1'000'000'007) + "-" + std::to_string(counter++) +
         (fifo ? ".fifo" : "");
}

TEST(sqs_client, queue_lifecycle_and_attributes) {
  courier::sqs::client sqs(moto_options());
  const std::string name = unique_name("lifecycle", false);
  const std::string url = sqs.create_queue(name, {{"VisibilityTimeout", "45"}});
  EXPECT_THAT(url, ::testing::EndsWith("/" + name));
  EXPECT_EQ(sqs.get_queue_url(name), url);
  EXPECT_EQ(sqs.get_queue_attributes(url).at("VisibilityTimeout"), "45");
  sqs.set_queue_attributes(url, {{"VisibilityTimeout", "12"}});
  EXPECT_EQ(sqs.get_queue_attributes(url, {"VisibilityTimeout"}).at("VisibilityTimeout"), "12");
  sqs.send_message(url, {.body = "one"});
  sqs.send_message(url, {.body = "two"});
  EXPECT_EQ(sqs.get_queue_attributes(url, {"ApproximateNumberOfMessages"}).at("ApproximateNumberOfMessages"),
            "2");
  sqs.purge_queue(url);
  EXPECT_EQ(sqs.get_queue_attributes(url, {"ApproximateNumberOfMessages"}).at("ApproximateNumberOfMessages"),
            "0");
  EXPECT_TRUE(sqs.receive_message(url).empty());
  sqs.delete_queue(url);
  try {
    sqs.get_queue_url(name);
    FAIL() << "a deleted queue was found";
  } catch (const courier::error& failure) {  // every courier exception is a courier::error
    const auto& e = dynamic_cast<const courier::sqs::error&>(failure);
    EXPECT_EQ(e.code(), courier::sqs::error_kind::aws_error);
    EXPECT_EQ(e.aws_code(), "QueueDoesNotExist");
    EXPECT_EQ(e.operation(), "GetQueueUrl");
    EXPECT_EQ(e.http_status(), 400);
    EXPECT_EQ(e.attempts(), 1);  // a client error is not retried
  }
}

TEST(sqs_client, a_fifo_message_round_trips_with_group_sequence_and_attributes) {
  courier::sqs::client sqs(moto_options());
  const std::string url = sqs.create_queue(unique_name("roundtrip", true), {{"FifoQueue", "true"}});
  courier::sqs::outgoing_message message;
  message.body = R"({"parcel":42,"note":"fragile \u00e9"})";
  message.group_id = "acme";
  message.deduplication_id = "parcel-42";
  message.message_attributes = {{"type", {"String", "pickup"}},
                                {"weight", {"Number", "12.5"}},
                                {"raw", {"Binary", std::string("\x00\x01\xff", 3)}}};
  const auto sent = sqs.send_message(url, message);
  EXPECT_FALSE(sent.message_id.empty());
  EXPECT_FALSE(sent.sequence_number.empty());

  const auto got = sqs.receive_message(url, {.max_messages = 10});
  ASSERT_EQ(got.size(), 1U);
  EXPECT_EQ(got[0].body, message.body);
  EXPECT_EQ(got[0].message_id, sent.message_id);
  EXPECT_EQ(got[0].system_attribute("MessageGroupId"), "acme");
  EXPECT_EQ(got[0].system_attribute("MessageDeduplicationId"), "parcel-42");
  EXPECT_EQ(got[0].system_attribute("SequenceNumber"), sent.sequence_number);
  EXPECT_EQ(got[0].receive_count(), 1);
  EXPECT_EQ(got[0].message_attributes, message.message_attributes);
  sqs.delete_message(url, got[0].receipt_handle);
  EXPECT_TRUE(sqs.receive_message(url, {.max_messages = 10}).empty());
  sqs.delete_queue(url);
}

TEST(sqs_client, batches_keep_fifo_order_per_group) {
  courier::sqs::client sqs(moto_options());
  const std::string url = sqs.create_queue(unique_name("order", true), {{"FifoQueue", "true"}});
  for (int batch = 0; batch < 2; ++batch) {
    std::vector<courier::sqs::outgoing_message> messages;
    for (int i = 0; i < 10; ++i) {
      const int n = batch * 10 + i;
      courier::sqs::outgoing_message m;
      m.body = "m" + std::to_string(n);
      m.group_id = n % 2 == 0 ? "even" : "odd";
      m.deduplication_id = "d" + std::to_string(n);
      m.entry_id = "e" + std::to_string(i);
      messages.push_back(m);
    }
    const auto result = sqs.send_message_batch(url, messages);
    EXPECT_EQ(result.successful.size(), 10U);
    EXPECT_TRUE(result.failed.empty());
  }
  std::vector<std::string> even;
  std::vector<std::string> odd;
  for (int round = 0; round < 10 && even.size() + odd.size() < 20; ++round) {
    const auto got = sqs.receive_message(url, {.max_messages = 10});
    std::vector<courier::sqs::receipt_entry> done;
    for (const auto& m : got) {
      (m.system_attribute("MessageGroupId") == "even" ? even : odd).push_back(m.body);
      done.push_back({"x" + std::to_string(done.size()), m.receipt_handle, 0s});
    }
    if (!done.empty()) {
      EXPECT_EQ(sqs.delete_message_batch(url, done).successful.size(), done.size());
    }
  }
  EXPECT_THAT(even, ElementsAre("m0", "m2", "m4", "m6", "m8", "m10", "m12", "m14", "m16", "m18"));
  EXPECT_THAT(odd, ElementsAre("m1", "m3", "m5", "m7", "m9", "m11", "m13", "m15", "m17", "m19"));
  sqs.delete_queue(url);
}

TEST(sqs_client, fifo_dedup_by_id_and_by_content) {
  courier::sqs::client sqs(moto_options());
  const std::string url = sqs.create_queue(unique_name("dedup", true),
                                           {{"FifoQueue", "true"}, {"ContentBasedDeduplication", "true"}});
  courier::sqs::outgoing_message keyed{.body = "one", .group_id = "g", .deduplication_id = "k1"};
  sqs.send_message(url, keyed);
  keyed.body = "one again, same key";
  sqs.send_message(url, keyed);  // accepted, and not delivered (AWS's docs do not promise the first id back)
  courier::sqs::outgoing_message by_content{.body = "two", .group_id = "g"};
  sqs.send_message(url, by_content);
  sqs.send_message(url, by_content);
  std::vector<std::string> got;
  for (int round = 0; round < 5; ++round) {
    for (const auto& m : sqs.receive_message(url, {.max_messages = 10})) {
      got.push_back(m.body);
      sqs.delete_message(url, m.receipt_handle);
    }
  }
  EXPECT_THAT(got, ElementsAre("one", "two"));
  sqs.delete_queue(url);
}

TEST(sqs_client, visibility_zero_redelivers_with_a_higher_receive_count) {
  courier::sqs::client sqs(moto_options());
  const std::string url = sqs.create_queue(unique_name("visibility", false));
  sqs.send_message(url, {.body = "again"});
  auto first = sqs.receive_message(url, {.max_messages = 1, .visibility_timeout = 30s});
  ASSERT_EQ(first.size(), 1U);
  EXPECT_TRUE(sqs.receive_message(url).empty());                    // hidden while in flight
  sqs.change_message_visibility(url, first[0].receipt_handle, 0s);  // a nack
  auto second = sqs.receive_message(url);
  ASSERT_EQ(second.size(), 1U);
  EXPECT_EQ(second[0].receive_count(), 2);
  const std::vector<courier::sqs::receipt_entry> entries = {{"ok", second[0].receipt_handle, 30s},
                                                            {"bad", "not-a-receipt-handle", 30s}};
  const auto changed = sqs.change_message_visibility_batch(url, entries);
  EXPECT_THAT(changed.successful, ElementsAre("ok"));
  ASSERT_EQ(changed.failed.size(), 1U);
  EXPECT_EQ(changed.failed[0].entry_id, "bad");
  EXPECT_FALSE(changed.failed[0].code.empty());
  sqs.delete_queue(url);
}

TEST(sqs_client, a_dead_letter_queue_takes_messages_past_max_receives) {
  courier::sqs::client sqs(moto_options());
  const std::string dlq = sqs.create_queue(unique_name("dead", false));
  const std::string dlq_arn = sqs.get_queue_attributes(dlq, {"QueueArn"}).at("QueueArn");
  const std::string url = sqs.create_queue(
      unique_name("source", false),
      {{"RedrivePolicy", R"({"deadLetterTargetArn":")" + dlq_arn + R"(","maxReceiveCount":"2"})"}});
  sqs.send_message(url, {.body = "poison"});
  for (int i = 0; i < 2; ++i) {
    auto got = sqs.receive_message(url);
    ASSERT_EQ(got.size(), 1U) << "receive " << i;
    sqs.change_message_visibility(url, got[0].receipt_handle, 0s);
  }
  EXPECT_TRUE(sqs.receive_message(url).empty());  // the third receive moves it instead
  const auto dead = sqs.receive_message(dlq);
  ASSERT_EQ(dead.size(), 1U);
  EXPECT_EQ(dead[0].body, "poison");
  sqs.delete_queue(url);
  sqs.delete_queue(dlq);
}

TEST(sqs_client, a_large_body_round_trips_unchanged) {
  courier::sqs::client sqs(moto_options());
  const std::string url = sqs.create_queue(unique_name("large", false));
  std::string body;
  for (int i = 0; body.size() < 900 * 1024; ++i) body += "line " + std::to_string(i) + " \"quoted\" \u00e9\n";
  sqs.send_message(url, {.body = body});
  const auto got = sqs.receive_message(url);
  ASSERT_EQ(got.size(), 1U);
  EXPECT_EQ(got[0].body.size(), body.size());
  EXPECT_TRUE(got[0].body == body);
  sqs.delete_queue(url);
}

TEST(sqs_client, an_oversized_message_is_refused_before_it_is_sent) {
  auto options = moto_options();
  options.max_message_bytes = 1000;
  courier::sqs::client sqs(options);
  const std::string url = sqs.create_queue(unique_name("big", false));
  const std::size_t before = sqs.requests_made();
  try {
    sqs.send_message(
        url, {.body = std::string(990, 'x'), .message_attributes = {{"type", {"String", "0123456789"}}}});
    FAIL() << "an oversized message was sent";
  } catch (const courier::sqs::error& e) {
    EXPECT_EQ(e.aws_code(), "MessageTooLong");
    EXPECT_THAT(e.what(), ::testing::HasSubstr("1010 bytes"));
  }
  EXPECT_EQ(sqs.requests_made(), before);
  sqs.delete_queue(url);
}

TEST(sqs_client, a_response_over_max_response_bytes_fails_clearly_and_is_not_retried) {
  courier::sqs::client setup(moto_options());
  const std::string name = unique_name("big-answers", false);
  const std::string url = setup.create_queue(name);
  setup.send_message(url, {.body = std::string(4000, 'b')});
  auto options = moto_options();
  options.max_response_bytes = 1000;  // the message alone is 4,000 bytes
  courier::sqs::client bounded(options);
  try {
    bounded.receive_message(url);
    FAIL() << "a 4-KB answer was read whole with a 1,000-byte bound";
  } catch (const courier::sqs::error& e) {
    EXPECT_EQ(e.code(), courier::sqs::error_kind::bad_response);
    EXPECT_EQ(e.aws_code(), "ResponseTooLarge");
    EXPECT_EQ(e.attempts(), 1);
    EXPECT_THAT(e.what(), ::testing::HasSubstr("1000 bytes"));
  }
  setup.delete_queue(url);
}

TEST(sqs_client, a_dead_server_fails_clearly_after_bounded_retries) {
  courier::sqs::client_options options;
  options.settings = {.region = "us-east-1", .endpoint = "http://127.0.0.1:1", .keys = {"k", "s", ""}};
  options.max_attempts = 3;
  options.backoff_base = 1ms;
  courier::sqs::client sqs(options);
  try {
    sqs.get_queue_url("anything");
    FAIL() << "a request to a closed port succeeded";
  } catch (const courier::sqs::error& e) {
    EXPECT_EQ(e.code(), courier::sqs::error_kind::transport);
    EXPECT_EQ(e.aws_code(), "TransportError");
    EXPECT_EQ(e.attempts(), 3);
    EXPECT_EQ(e.http_status(), 0);
    EXPECT_THAT(e.what(), ::testing::HasSubstr("127.0.0.1:1"));
    EXPECT_THAT(e.what(), ::testing::Not(::testing::HasSubstr("s\"")));
  }
  EXPECT_EQ(sqs.requests_made(), 3U);
}

}  // namespace
