// Delivery receipts across processes over SQS (fixture moto): a sender's
// receipt_inbox and the receipts courier's consumers send back. Sender and
// consumer use separate clients, as two processes would.
#include "courier/sqs/receipts.hpp"

#include "courier/bus.hpp"
#include "courier/idempotent_store.hpp"
#include "courier/sqs/bus_feed.hpp"
#include "courier/sqs/channel.hpp"
#include "courier/sqs/receipt_inbox.hpp"
#include "moto_env.hpp"

#include <gtest/gtest.h>
#include <boost/describe.hpp>

#include <atomic>
#include <string>

struct parcel_sent {
  int parcel;
};
BOOST_DESCRIBE_STRUCT(parcel_sent, (), (parcel))

struct other_parcel {
  std::string name;
};
BOOST_DESCRIBE_STRUCT(other_parcel, (), (name))

namespace {

using namespace std::chrono_literals;
using courier::delivery_outcome;

courier::sqs::client_options moto_options() { return courier_test::fixture_options(); }

// A queue of the test's own, deleted at the end.
struct queue {
  courier::sqs::client& sqs;
  std::string url;
  queue(courier::sqs::client& client, const std::string& name,
        std::map<std::string, std::string> attributes = {})
      : sqs(client), url(client.create_queue(name, attributes)) {}
  ~queue() { sqs.delete_queue(url); }
};

TEST(sqs_receipts, a_consumers_ack_resolves_the_senders_receipt_with_the_consumers_name) {
  courier::sqs::client sender_sqs(moto_options());
  courier::sqs::client consumer_sqs(moto_options());
  queue work(sender_sqs, "receipts-ack");
  auto inbox = std::make_shared<courier::sqs::receipt_inbox>(sender_sqs);
  courier::sqs::channel<parcel_sent> sender(sender_sqs, {.queue_url = work.url, .receipts = inbox});
  const auto sent = sender.send(parcel_sent{7}, {.track_delivery = true, .receipt_timeout = 30s});
  ASSERT_TRUE(sent.receipt.valid());
  EXPECT_EQ(sent.receipts.id().size(), 32u);      // courier's own id: the send had no key
  EXPECT_FALSE(sent.receipt.peek().has_value());  // nobody has handled it yet

  courier::sqs::channel<parcel_sent> consumer(consumer_sqs, {.queue_url = work.url});
  auto running = consumer.consume([](const parcel_sent&) {});
  ASSERT_EQ(sent.receipt.wait_for(20s), delivery_outcome::acked);
  const auto received = sent.receipts.received();
  ASSERT_EQ(received.size(), 1u);
  EXPECT_EQ(received[0].consumer, "receipts-ack");  // the queue's name, by default
  EXPECT_EQ(received[0].id, sent.receipts.id());
  EXPECT_EQ(sent.receipts.from("receipts-ack").get(), delivery_outcome::acked);
  EXPECT_EQ(inbox->stats().receipts, 1u);
}

TEST(sqs_receipts, a_delivery_acked_by_hand_sends_its_receipt_under_the_channels_consumer_name) {
  courier::sqs::client sqs(moto_options());
  queue work(sqs, "receipts-by-hand.fifo", {{"FifoQueue", "true"}});
  auto inbox = std::make_shared<courier::sqs::receipt_inbox>(sqs);
  courier::sqs::channel<parcel_sent> sender(sqs, {.queue_url = work.url, .receipts = inbox});
  const auto sent =
      sender.send(parcel_sent{8}, {.group = "g", .idempotency_key = "parcel-8", .track_delivery = true});
  EXPECT_EQ(sent.receipts.id(), "parcel-8");  // the key names the message

  courier::sqs::channel<parcel_sent> consumer(sqs, {.queue_url = work.url, .consumer_name = "hub-1"});
  auto got = consumer.receive(1, 5s);
  ASSERT_EQ(got.size(), 1u);
  got[0].ack();
  ASSERT_EQ(sent.receipts.from("hub-1").wait_for(20s), delivery_outcome::acked);
}

TEST(sqs_receipts, a_message_failing_its_last_allowed_receive_is_reported_dead_lettered) {
  courier::sqs::client sqs(moto_options());
  queue dead(sqs, "receipts-dead-letters");
  const std::string dead_arn = sqs.get_queue_attributes(dead.url, {"QueueArn"})["QueueArn"];
  queue work(sqs, "receipts-redriven",
             {{"RedrivePolicy", R"({"deadLetterTargetArn":")" + dead_arn + R"(","maxReceiveCount":"2"})"}});
  auto inbox = std::make_shared<courier::sqs::receipt_inbox>(sqs);
  courier::sqs::channel<parcel_sent> sender(sqs, {.queue_url = work.url, .receipts = inbox});
  const auto sent = sender.send(parcel_sent{9}, {.track_delivery = true});

  std::atomic<int> attempts{0};
  courier::sqs::channel<parcel_sent> consumer(sqs, {.queue_url = work.url});
  auto running = consumer.consume(
      [&](const parcel_sent&) {
        ++attempts;
        throw std::runtime_error("the handler always fails");
      },
      {}, [](const std::string&, std::exception_ptr) {});
  ASSERT_EQ(sent.receipt.wait_for(20s), delivery_outcome::dead_lettered);
  EXPECT_EQ(attempts.load(), 2);  // answered at the second (last) receive, not before
}

TEST(sqs_receipts, a_message_that_never_decodes_is_reported_dead_lettered_at_its_last_receive) {
  courier::sqs::client sqs(moto_options());
  queue dead(sqs, "receipts-undecodable-dead-letters");
  const std::string dead_arn = sqs.get_queue_attributes(dead.url, {"QueueArn"})["QueueArn"];
  // A one-second visibility timeout: a message left in the queue comes back soon.
  queue work(sqs, "receipts-undecodable",
             {{"VisibilityTimeout", "1"},
              {"RedrivePolicy", R"({"deadLetterTargetArn":")" + dead_arn + R"(","maxReceiveCount":"2"})"}});
  auto inbox = std::make_shared<courier::sqs::receipt_inbox>(sqs);
  // The sender sends another type than the consumer reads.
  courier::sqs::channel<other_parcel> sender(sqs, {.queue_url = work.url, .receipts = inbox});
  const auto sent = sender.send(other_parcel{"x"}, {.track_delivery = true});
  std::atomic<int> reported{0};
  courier::sqs::channel<parcel_sent> consumer(
      sqs,
      {.queue_url = work.url,
       .on_malformed = [&](const courier::sqs::received_message&, const std::exception&) { ++reported; }});
  auto running = consumer.consume([](const parcel_sent&) { FAIL() << "decoded a message of another type"; });
  ASSERT_EQ(sent.receipt.wait_for(20s), delivery_outcome::dead_lettered);
  EXPECT_EQ(reported.load(), 2);  // both receives reported; the second answered
}

TEST(sqs_receipts, nobody_handling_the_message_resolves_timed_out_and_the_inbox_forgets_it) {
  courier::sqs::client sqs(moto_options());
  queue work(sqs, "receipts-unread");
  auto inbox = std::make_shared<courier::sqs::receipt_inbox>(sqs);
  courier::sqs::channel<parcel_sent> sender(sqs, {.queue_url = work.url, .receipts = inbox});
  const auto sent = sender.send(parcel_sent{10}, {.track_delivery = true, .receipt_timeout = 300ms});
  EXPECT_EQ(inbox->stats().tracked, 1u);
  ASSERT_EQ(sent.receipt.wait_for(10s), delivery_outcome::timed_out);
  EXPECT_EQ(sent.receipts.wait_all({"hub", "drivers"}),
            (std::map<std::string, delivery_outcome>{{"drivers", delivery_outcome::timed_out},
                                                     {"hub", delivery_outcome::timed_out}}));
  EXPECT_EQ(inbox->stats().tracked, 0u);
}

TEST(sqs_receipts, a_redelivery_the_store_turns_away_is_answered_again_and_resolves_nothing_twice) {
  courier::sqs::client sqs(moto_options());
  queue work(sqs, "receipts-repeated");
  auto inbox = std::make_shared<courier::sqs::receipt_inbox>(sqs);
  courier::sqs::channel<parcel_sent> sender(sqs, {.queue_url = work.url, .receipts = inbox});
  // A sender retrying with its key: two messages on a standard queue, one
  // id; the consumer's store applies it once, and both copies are acked.
  const auto first = sender.send(parcel_sent{11}, {.idempotency_key = "parcel-11", .track_delivery = true});
  const auto again = sender.send(parcel_sent{11}, {.idempotency_key = "parcel-11", .track_delivery = true});
  EXPECT_EQ(first.receipts.id(), again.receipts.id());

  std::atomic<int> handled{0};
  courier::sqs::channel<parcel_sent> consumer(
      sqs, {.queue_url = work.url, .applied = std::make_shared<courier::memory_idempotent_store>()});
  auto running = consumer.consume([&](const parcel_sent&) { ++handled; });
  ASSERT_EQ(first.receipt.wait_for(20s), delivery_outcome::acked);
  EXPECT_EQ(again.receipt.get(), delivery_outcome::acked);  // one state: both sends share it
  ASSERT_TRUE(inbox->wait_for_stats([](const auto& seen) { return seen.repeated > 0; }, 20s));
  const auto stats = inbox->stats();
  EXPECT_EQ(stats.receipts, 1u);
  EXPECT_EQ(stats.repeated, 1u);
  EXPECT_EQ(handled.load(), 1);
  EXPECT_EQ(first.receipts.received().size(), 1u);
}

TEST(sqs_receipts, track_delivery_without_an_inbox_is_refused_naming_the_option) {
  courier::sqs::client sqs(moto_options());
  courier::sqs::channel<parcel_sent> sender(sqs, {.queue_url = "http://127.0.0.1:1/123/q"});
  try {
    sender.send(parcel_sent{1}, {.track_delivery = true});
    FAIL() << "sent";
  } catch (const courier::error& e) {
    EXPECT_EQ(e.code(), courier::errc::invalid_option);
    EXPECT_NE(std::string(e.what()).find("channel_options::receipts"), std::string::npos) << e.what();
  }
}

TEST(sqs_receipts, what_is_not_a_receipt_on_the_reply_queue_is_counted_and_dropped) {
  courier::sqs::client sqs(moto_options());
  auto inbox = std::make_shared<courier::sqs::receipt_inbox>(sqs);
  const auto tracked = inbox->track("known", 30s);
  // Not a receipt, a receipt with an outcome nobody sends, one for an id
  // never tracked here, and a good one.
  sqs.send_message(inbox->queue_url(), {.body = "hello"});
  auto bad_outcome = courier::sqs::encode_receipt({"known", delivery_outcome::acked, "hub", {}});
  bad_outcome.body = R"({"id":"known","outcome":"timed_out","consumer":"hub","time":0})";
  sqs.send_message(inbox->queue_url(), bad_outcome);
  sqs.send_message(inbox->queue_url(),
                   courier::sqs::encode_receipt({"stranger", delivery_outcome::acked, "hub", {}}));
  sqs.send_message(inbox->queue_url(),
                   courier::sqs::encode_receipt({"known", delivery_outcome::acked, "hub", {}}));
  ASSERT_EQ(tracked.from("hub").wait_for(20s), delivery_outcome::acked);
  const auto stats = inbox->stats();
  EXPECT_EQ(stats.malformed, 2u);
  EXPECT_EQ(stats.unknown, 1u);
  EXPECT_EQ(stats.receipts, 1u);
}

TEST(sqs_receipts, the_inbox_bounds_what_it_tracks_and_abandons_the_rest_when_destroyed) {
  courier::sqs::client sqs(moto_options());
  courier::sqs::delivery_receipts kept;
  std::string queue_url;
  {
    courier::sqs::receipt_inbox inbox(sqs, {.max_tracked = 2});
    queue_url = inbox.queue_url();
    kept = inbox.track("a");
    inbox.track("b");
    EXPECT_EQ(inbox.track("a").id(), "a");  // tracked already: no new slot
    try {
      inbox.track("c");
      FAIL() << "tracked a third";
    } catch (const courier::error& e) {
      EXPECT_EQ(e.code(), courier::errc::channel_full);
    }
  }
  EXPECT_EQ(kept.first().get(), delivery_outcome::abandoned);
  // Its own queue went with it.
  EXPECT_THROW(sqs.get_queue_attributes(queue_url, {"QueueArn"}), courier::aws::error);
}

TEST(sqs_receipts, a_reply_to_that_is_no_url_gets_no_receipt) {
  courier::sqs::received_message message;
  message.message_attributes["courier.reply_to"] = {"String", "arn:aws:sqs:us-east-1:1:q"};
  EXPECT_EQ(courier::sqs::reply_to_of(message), "");
  message.message_attributes["courier.reply_to"] = {"String", "https://sqs/" + std::string(2000, 'q')};
  EXPECT_EQ(courier::sqs::reply_to_of(message), "");
  message.message_attributes["courier.reply_to"] = {"String", "https://sqs.eu-west-1.amazonaws.com/1/r"};
  EXPECT_EQ(courier::sqs::reply_to_of(message), "https://sqs.eu-west-1.amazonaws.com/1/r");
  EXPECT_EQ(courier::sqs::queue_name_of("https://sqs.eu-west-1.amazonaws.com/1/hub.fifo"), "hub.fifo");
}

TEST(sqs_receipts, a_bus_feed_answers_under_its_own_name) {
  courier::sqs::client sqs(moto_options());
  queue work(sqs, "receipts-feed");
  auto inbox = std::make_shared<courier::sqs::receipt_inbox>(sqs);
  courier::sqs::channel<parcel_sent> sender(sqs, {.queue_url = work.url, .receipts = inbox});
  const auto sent = sender.send(parcel_sent{12}, {.track_delivery = true});
  courier::bus bus;
  courier::sqs::bus_feed feed(sqs, work.url, bus);
  feed.accept<parcel_sent>().answer_as("drivers");
  auto running = feed.start();
  EXPECT_EQ(sent.receipts.wait_all({"drivers"}),
            (std::map<std::string, delivery_outcome>{{"drivers", delivery_outcome::acked}}));
}

}  // namespace
