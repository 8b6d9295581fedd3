// The DynamoDB store under SQS consumers: sqs::channel's .applied and
// sqs::bus_feed, on one queue, as consumers on several hosts would use it
// (moto_server on loopback for both services).
#include "courier/bus.hpp"
#include "courier/dynamodb/idempotent_store.hpp"
#include "courier/sqs/bus_feed.hpp"
#include "courier/sqs/channel.hpp"
#include "courier/testing/faulty.hpp"

#include "../sqs/moto_env.hpp"

#include <fmt/format.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <boost/describe.hpp>

#include <atomic>
#include <future>
#include <memory>
#include <string>
#include <thread>

struct pickup {
  std::string vendor;
  int parcel = 0;
};
BOOST_DESCRIBE_STRUCT(pickup, (), (vendor, parcel))

namespace {

using namespace std::chrono_literals;
using courier::dynamodb::number_of;
using courier::dynamodb::string_value;

class dynamodb_under_sqs : public ::testing::Test {
 protected:
  void SetUp() override {
    const auto id = fmt::format("{}-{}", ::getpid(), ++made_);
    table_ = "applied-sqs-" + id;
    courier::dynamodb::idempotent_store::create_table(dynamo_, table_);
    url_ =
        sqs_.create_queue("consumers-" + id + ".fifo", {{"FifoQueue", "true"}, {"VisibilityTimeout", "1"}});
  }
  void TearDown() override {
    sqs_.delete_queue(url_);
    dynamo_.delete_table(table_);
  }

  std::shared_ptr<courier::dynamodb::idempotent_store> store() {
    return std::make_shared<courier::dynamodb::idempotent_store>(
        dynamo_, courier::dynamodb::store_options{.table = table_, .scope = "pickups"});
  }

  static inline int made_ = 0;
  courier::aws::client_options options_ = courier_test::fixture_options();
  courier::sqs::client sqs_{options_};
  courier::dynamodb::client dynamo_{options_};
  std::string table_;
  std::string url_;
};

// The DynamoDB store, saying when it turned a redelivery away.
struct watched_store final : courier::idempotent_store {
  explicit watched_store(std::shared_ptr<courier::dynamodb::idempotent_store> inner)
      : inner(std::move(inner)) {}
  std::shared_ptr<courier::dynamodb::idempotent_store> inner;
  std::promise<void> turned_away;
  std::atomic<bool> said{false};
  courier::claim do_begin(const courier::claim_request& request) override {
    auto claimed = inner->begin(request);
    if (claimed.outcome == courier::apply_outcome::already_applied && !said.exchange(true))
      turned_away.set_value();
    return claimed;
  }
  void do_commit(std::string_view key, std::string_view result) override { inner->commit(key, result); }
  void do_abort(std::string_view key) override { inner->abort(key); }
  void do_extend(std::string_view key, std::chrono::milliseconds lease) override {
    inner->extend(key, lease);
  }
};

TEST_F(dynamodb_under_sqs, a_redelivery_after_a_lost_ack_is_applied_once) {
  auto watched = std::make_shared<watched_store>(store());
  courier::sqs::channel<pickup> pickups(sqs_, {.queue_url = url_, .applied = watched});
  pickups.send(pickup{"acme", 7}, {.group = "acme", .idempotency_key = "parcel-7"});
  std::atomic<int> applied{0};
  auto effect = [&](courier::sqs::delivery<pickup>&) { applied.fetch_add(1); };
  {
    // The first ack is lost: the message comes back after its one-second
    // visibility, and the store turns it away (acked, the effect not run).
    auto running =
        pickups.consume(courier::testing::losing_acks(effect, courier::testing::fault_dice::nth(1)),
                        {.concurrency = 1, .batch = 1});
    EXPECT_EQ(watched->turned_away.get_future().wait_for(20s), std::future_status::ready)
        << "the redelivery was not turned away";
  }
  EXPECT_EQ(applied.load(), 1);
  EXPECT_EQ(courier::dynamodb::string_of(
                *dynamo_.get_item(table_, {{"id", string_value("pickups#parcel-7")}}), "status"),
            "APPLIED");
}

TEST_F(dynamodb_under_sqs, a_handler_that_outlives_its_visibility_cannot_mark_what_another_host_took_over) {
  auto shared = store();
  courier::sqs::channel<pickup> host_a(sqs_, {.queue_url = url_, .applied = shared});
  courier::sqs::channel<pickup> host_b(sqs_, {.queue_url = url_, .applied = store()});
  host_a.send(pickup{"acme", 7}, {.group = "acme", .idempotency_key = "parcel-7"});
  std::promise<void> a_started;
  std::promise<void> b_applied;
  std::promise<std::string> a_refused;
  auto running_a = host_a.consume(
      [&](const pickup&) {
        a_started.set_value();
        std::this_thread::sleep_for(2500ms);  // past the 1-s visibility and lease
      },
      {.concurrency = 1, .batch = 1},
      [&](const std::string&, std::exception_ptr failure) {
        try {
          std::rethrow_exception(failure);
        } catch (const courier::error& e) {
          if (e.code() == courier::errc::lease_lost) a_refused.set_value(e.what());
        }
      });
  ASSERT_EQ(a_started.get_future().wait_for(20s), std::future_status::ready);
  auto running_b =
      host_b.consume([&](const pickup&) { b_applied.set_value(); }, {.concurrency = 1, .batch = 1});
  EXPECT_EQ(b_applied.get_future().wait_for(20s), std::future_status::ready) << "b did not take the key over";
  auto refused = a_refused.get_future();
  ASSERT_EQ(refused.wait_for(20s), std::future_status::ready) << "a's late commit was not refused";
  EXPECT_THAT(refused.get(), ::testing::HasSubstr("parcel-7"));
  // The record is b's: applied, with b's fence (one above a's).
  const auto record = dynamo_.get_item(table_, {{"id", string_value("pickups#parcel-7")}});
  EXPECT_EQ(courier::dynamodb::string_of(*record, "status"), "APPLIED");
  EXPECT_EQ(number_of(*record, "fence"), 2);
}

TEST_F(dynamodb_under_sqs, extending_a_delivery_extends_its_claim) {
  courier::sqs::channel<pickup> pickups(sqs_, {.queue_url = url_, .applied = store()});
  pickups.send(pickup{"acme", 7}, {.group = "acme", .idempotency_key = "parcel-7"});
  std::promise<std::int64_t> lease_left_ms;
  auto running = pickups.consume(
      [&](courier::sqs::delivery<pickup>& d) {
        d.extend(30s);
        const auto record = dynamo_.get_item(table_, {{"id", string_value("pickups#parcel-7")}});
        const auto now = std::chrono::duration_cast<std::chrono::milliseconds>(
                             std::chrono::system_clock::now().time_since_epoch())
                             .count();
        lease_left_ms.set_value(number_of(*record, "lease_until").value_or(0) - now);
      },
      {.concurrency = 1, .batch = 1});
  auto left = lease_left_ms.get_future();
  ASSERT_EQ(left.wait_for(20s), std::future_status::ready);
  EXPECT_GT(left.get(), 25'000);  // the 1-s lease became 30 s
}

TEST_F(dynamodb_under_sqs, a_bus_feed_acks_a_message_another_host_applied_without_publishing_it) {
  // Another host published parcel-7 and died before deleting it.
  auto applied = store();
  applied->apply_once("parcel-7", [] {});
  courier::bus receiver;
  std::atomic<int> published{0};
  std::promise<int> last_parcel;
  auto subscription = receiver.subscribe<pickup>([&](const pickup& p) {
    published.fetch_add(1);
    last_parcel.set_value(p.parcel);
  });
  courier::sqs::bus_feed feed(sqs_, url_, receiver);
  feed.accept<pickup>().apply_once_with(applied);
  courier::sqs::channel<pickup> sender(sqs_, {.queue_url = url_});
  sender.send(pickup{"acme", 7}, {.group = "acme", .idempotency_key = "parcel-7"});
  sender.send(pickup{"acme", 8}, {.group = "acme", .idempotency_key = "parcel-8"});
  auto running = feed.start({.concurrency = 1});
  auto parcel = last_parcel.get_future();
  ASSERT_EQ(parcel.wait_for(20s), std::future_status::ready);
  EXPECT_EQ(parcel.get(), 8);  // in group order: parcel-7 came first and was acked unpublished
  EXPECT_EQ(published.load(), 1);
}

}  // namespace
