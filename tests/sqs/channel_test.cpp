// courier::sqs::channel<T> against moto_server (fixture moto).
#include "courier/sqs/channel.hpp"

#include "courier/idempotent_store.hpp"
#include "courier/testing/faulty.hpp"
#include "queue_fixture.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <boost/describe.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <fstream>
#include <future>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

struct pickup {
  std::string vendor;
  int parcel;
};
BOOST_DESCRIBE_STRUCT(pickup, (), (vendor, parcel))

struct invoice {
  int number;
};
BOOST_DESCRIBE_STRUCT(invoice, (), (number))

namespace {

using namespace std::chrono_literals;
using ::testing::ElementsAre;

using sqs_channel = courier_test::queue_fixture;

std::vector<int> parcels(const std::vector<courier::sqs::delivery<pickup>>& got) {
  std::vector<int> out;
  for (const auto& d : got) out.push_back(d.message().parcel);
  return out;
}

TEST_F(sqs_channel, typed_messages_round_trip_in_group_order_and_ack_removes_them) {
  courier::sqs::channel<pickup> pickups(sqs, {.queue_url = queue(true)});
  for (int parcel = 1; parcel <= 3; ++parcel) {
    pickups.send(pickup{"acme", parcel}, {.group = "acme", .idempotency_key = "p" + std::to_string(parcel)});
  }
  std::vector<int> seen;
  for (int round = 0; round < 10 && seen.size() < 3; ++round) {
    for (auto& d : pickups.receive(10)) {
      EXPECT_EQ(d.message().vendor, "acme");
      EXPECT_EQ(d.group(), "acme");
      EXPECT_FALSE(d.sequence().empty());
      EXPECT_EQ(d.receive_count(), 1);
      seen.push_back(d.message().parcel);
      d.ack();
    }
  }
  EXPECT_THAT(seen, ElementsAre(1, 2, 3));
  EXPECT_TRUE(pickups.receive(10).empty());
}

TEST_F(sqs_channel, send_async_batches_sends_and_keeps_each_groups_order) {
  courier::sqs::channel<pickup> pickups(sqs, {.queue_url = queue(true), .send_linger = 20ms});
  const std::size_t before = sqs.requests_made();
  std::vector<std::future<courier::sqs::sent>> sends;
  for (int parcel = 0; parcel < 25; ++parcel) {
    sends.push_back(pickups.send_async(
        pickup{"acme", parcel},
        {.group = parcel % 2 == 0 ? "even" : "odd", .idempotency_key = "p" + std::to_string(parcel)}));
  }
  for (auto& sent : sends) EXPECT_FALSE(sent.get().message_id.empty());
  EXPECT_LE(sqs.requests_made() - before, 5U);  // 25 messages in a few SendMessageBatch calls, not 25 calls
  std::vector<int> even;
  std::vector<int> odd;
  for (int round = 0; round < 20 && even.size() + odd.size() < 25; ++round) {
    auto got = pickups.receive(10);
    std::vector<courier::sqs::sqs_receipt> done;
    for (auto& d : got) {
      (d.group() == "even" ? even : odd).push_back(d.message().parcel);
      done.push_back(d.receipt());
    }
    if (!done.empty()) {
      EXPECT_TRUE(pickups.ack(done).ok());
    }
  }
  EXPECT_TRUE(std::is_sorted(even.begin(), even.end()));
  EXPECT_TRUE(std::is_sorted(odd.begin(), odd.end()));
  EXPECT_EQ(even.size() + odd.size(), 25U);
}

TEST_F(sqs_channel, send_batch_sends_up_to_ten_in_one_request_and_reports_each) {
  courier::sqs::channel<pickup> pickups(sqs, {.queue_url = queue(true)});
  std::vector<std::pair<pickup, courier::send_options>> batch;
  for (int parcel = 0; parcel < 10; ++parcel) {
    batch.push_back(
        {pickup{"acme", parcel}, {.group = "acme", .idempotency_key = "b" + std::to_string(parcel)}});
  }
  const std::size_t before = sqs.requests_made();
  const auto outcomes = pickups.send_batch(batch);
  EXPECT_EQ(sqs.requests_made() - before, 1U);
  ASSERT_EQ(outcomes.size(), 10U);
  for (const auto& outcome : outcomes) EXPECT_TRUE(outcome.accepted.has_value());
  batch.push_back(batch.front());
  EXPECT_THROW(pickups.send_batch(batch), courier::error);  // eleven: refused before sending
  std::vector<int> seen;
  for (int round = 0; round < 10 && seen.size() < 10; ++round) {
    for (auto& d : pickups.receive(10)) {
      seen.push_back(d.message().parcel);
      d.ack();
    }
  }
  EXPECT_THAT(seen, ElementsAre(0, 1, 2, 3, 4, 5, 6, 7, 8, 9));
}

TEST_F(sqs_channel, a_retried_send_with_the_same_key_is_delivered_once) {
  courier::sqs::channel<pickup> pickups(sqs, {.queue_url = queue(true)});
  pickups.send(pickup{"acme", 7}, {.group = "acme", .idempotency_key = "parcel-7"});
  pickups.send(pickup{"acme", 7}, {.group = "acme", .idempotency_key = "parcel-7"});
  auto got = pickups.receive(10);
  EXPECT_THAT(parcels(got), ElementsAre(7));
  for (auto& d : got) d.ack();
  EXPECT_TRUE(pickups.receive(10).empty());
}

TEST_F(sqs_channel, what_cannot_work_over_sqs_is_refused_clearly) {
  courier::sqs::channel<pickup> pickups(sqs, {.queue_url = queue(true)});
  try {
    pickups.send(pickup{"acme", 1});
    FAIL() << "a FIFO send without a group went out";
  } catch (const courier::error& e) {
    EXPECT_EQ(e.code(), courier::errc::missing_group);
  }
  try {
    pickups.send(pickup{"acme", 1}, {.group = "acme", .track_delivery = true});
    FAIL() << "track_delivery was accepted";
  } catch (const courier::error& e) {
    EXPECT_EQ(e.code(), courier::errc::invalid_option);
  }
}

TEST_F(sqs_channel, a_nack_brings_the_message_back_with_a_higher_receive_count) {
  courier::sqs::channel<pickup> pickups(sqs, {.queue_url = queue(false), .visibility_timeout = 30s});
  pickups.send(pickup{"acme", 1});
  auto first = pickups.receive(1);
  ASSERT_EQ(first.size(), 1U);
  EXPECT_TRUE(pickups.receive(1).empty());  // in flight
  first[0].nack();
  auto again = pickups.receive(1);
  ASSERT_EQ(again.size(), 1U);
  EXPECT_EQ(again[0].receive_count(), 2);
  EXPECT_EQ(again[0].id(), first[0].id());
  const std::vector<courier::sqs::sqs_receipt> receipts = {again[0].receipt(), {"x", "not-a-handle"}};
  const auto acked = pickups.ack(receipts);
  EXPECT_EQ(acked.acked, 1U);
  ASSERT_EQ(acked.failed.size(), 1U);
  EXPECT_EQ(acked.failed[0].first.handle, "not-a-handle");
}

TEST_F(sqs_channel, a_message_that_does_not_decode_is_reported_and_left_in_the_queue) {
  const std::string url = queue(false);
  std::vector<std::string> reported;
  courier::sqs::channel<pickup> pickups(
      sqs, {.queue_url = url,
            .visibility_timeout = 30s,
            .on_malformed = [&](const courier::sqs::received_message& m, const std::exception& e) {
              reported.push_back(m.body + " | " + e.what());
            }});
  courier::sqs::channel<invoice> invoices(sqs, {.queue_url = url});
  invoices.send(invoice{12});                  // another type on the same queue
  sqs.send_message(url, {.body = "{broken"});  // not courier's at all
  for (int round = 0; round < 5 && reported.size() < 2; ++round) EXPECT_TRUE(pickups.receive(10).empty());
  ASSERT_EQ(reported.size(), 2U);
  EXPECT_THAT(reported, ::testing::Contains(::testing::HasSubstr("got invoice")));
  EXPECT_THAT(reported, ::testing::Contains(::testing::HasSubstr("expected a pickup")));
  // Not deleted: both wait out their visibility timeout, for the redrive policy.
  EXPECT_EQ(sqs.get_queue_attributes(url, {"ApproximateNumberOfMessagesNotVisible"})
                .at("ApproximateNumberOfMessagesNotVisible"),
            "2");
}

// A memory store that also says when it turned a redelivery away.
struct watched_store final : courier::idempotent_store {
  courier::memory_idempotent_store inner;
  std::promise<void> turned_away;
  std::atomic<bool> said{false};
  courier::claim do_begin(const courier::claim_request& request) override {
    auto claimed = inner.begin(request);
    if (claimed.outcome == courier::apply_outcome::already_applied && !said.exchange(true))
      turned_away.set_value();
    return claimed;
  }
  void do_commit(std::string_view key, std::string_view result) override { inner.commit(key, result); }
  void do_abort(std::string_view key) override { inner.abort(key); }
};

// A consumer whose first ack is lost: the message comes back after its
// one-second visibility timeout. Returns how often the effect ran.
int applications_with_a_lost_ack(courier::sqs::client& sqs, const std::string& url,
                                 std::shared_ptr<watched_store> store) {
  courier::sqs::channel<pickup> pickups(sqs, {.queue_url = url, .visibility_timeout = 1s, .applied = store});
  pickups.send(pickup{"acme", 7}, {.group = "acme", .idempotency_key = "parcel-7"});
  std::atomic<int> applied{0};
  std::promise<void> redelivered;  // without a store: the handler sees the second delivery
  auto effect = [&](courier::sqs::delivery<pickup>& d) {
    applied.fetch_add(1);
    if (d.receive_count() == 2) redelivered.set_value();
  };
  {
    auto running =
        pickups.consume(courier::testing::losing_acks(effect, courier::testing::fault_dice::nth(1)),
                        {.concurrency = 1, .batch = 1});
    auto second = store ? store->turned_away.get_future() : redelivered.get_future();
    EXPECT_EQ(second.wait_for(20s), std::future_status::ready) << "the message did not come back";
  }
  return applied.load();
}

TEST_F(sqs_channel, the_idempotent_store_applies_a_redelivered_message_once) {
  // Without the store the effect happens twice: the comparison that shows
  // the store is what prevents it.
  EXPECT_EQ(applications_with_a_lost_ack(sqs, queue(true), nullptr), 2);
  EXPECT_EQ(applications_with_a_lost_ack(sqs, queue(true), std::make_shared<watched_store>()), 1);
}

TEST_F(sqs_channel, a_consumer_stops_promptly_while_long_polling) {
  courier::sqs::channel<pickup> pickups(sqs, {.queue_url = queue(false)});
  auto running = pickups.consume([](const pickup&) {}, {.concurrency = 2});
  std::this_thread::sleep_for(300ms);  // real time is the thing under test: let both polls start
  const auto stopping = std::chrono::steady_clock::now();
  running.stop();
  EXPECT_LT(std::chrono::steady_clock::now() - stopping, 3s);  // not the 20 s of the polls
}

}  // namespace
