// courier::dynamodb::idempotent_store against a real DynamoDB API (moto_server
// on loopback). Two store objects on one table stand for two hosts; a manual
// wall clock they share moves leases and expiries without sleeping.
#include "courier/dynamodb/idempotent_store.hpp"

#include "../sqs/moto_env.hpp"

#include <fmt/format.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <boost/json.hpp>

#include <atomic>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <vector>

namespace {

using namespace std::chrono_literals;
using courier::apply_outcome;
using courier::dynamodb::number_of;
using courier::dynamodb::string_of;
using courier::dynamodb::string_value;
namespace json = boost::json;

// A wall clock that moves only when told, shared by the "hosts" of a test.
struct manual_wall_clock {
  std::atomic<std::int64_t> ms{1'800'000'000'000};  // 2027
  std::chrono::system_clock::time_point operator()() const {
    return std::chrono::system_clock::time_point(std::chrono::milliseconds(ms.load()));
  }
  void advance(std::chrono::milliseconds by) { ms.fetch_add(by.count()); }
};

class dynamodb_store : public ::testing::Test {
 protected:
  void SetUp() override {
    table_ = fmt::format("applied-{}-{}", ::getpid(), ++tables_made_);
    courier::dynamodb::idempotent_store::create_table(dynamo_, table_);
  }
  void TearDown() override { dynamo_.delete_table(table_); }

  // One host's store on the test's table.
  std::unique_ptr<courier::dynamodb::idempotent_store> host(std::chrono::milliseconds lease = 30s,
                                                            std::chrono::milliseconds retention = 24h) {
    return std::make_unique<courier::dynamodb::idempotent_store>(
        dynamo_, courier::dynamodb::store_options{.table = table_,
                                                  .scope = "shipping",
                                                  .lease = lease,
                                                  .retention = retention,
                                                  .now = std::ref(clock_)});
  }

  // The key's record as DynamoDB holds it.
  std::optional<courier::dynamodb::item> record(const std::string& key) {
    return dynamo_.get_item(table_, {{"id", string_value("shipping#" + key)}});
  }

  static inline int tables_made_ = 0;
  courier::dynamodb::client dynamo_{courier_test::fixture_options()};
  manual_wall_clock clock_;
  std::string table_;
};

TEST_F(dynamodb_store, a_key_is_applied_once_across_hosts_and_a_duplicate_gets_the_first_result) {
  auto a = host();
  auto b = host();
  int quoted = 0;
  auto quote = [&] { return fmt::format("price {}", 100 + quoted++); };
  const auto first = a->apply_once_with_result({.key = "quote-1", .payload = "to Oslo"}, quote);
  EXPECT_EQ(first.outcome, apply_outcome::applied);
  const auto again = b->apply_once_with_result({.key = "quote-1", .payload = "to Oslo"}, quote);
  EXPECT_EQ(again.outcome, apply_outcome::already_applied);
  EXPECT_EQ(again.result, "price 100");
  EXPECT_EQ(quoted, 1);
  const auto stored = record("quote-1");
  ASSERT_TRUE(stored);
  EXPECT_EQ(string_of(*stored, "status"), "APPLIED");
  EXPECT_EQ(string_of(*stored, "result"), "price 100");
  // The payload's hash survives the commit's update.
  EXPECT_EQ(string_of(*stored, "payload_sha256")->size(), 64U);
  // The TTL attribute: the retention after now, in epoch seconds.
  EXPECT_EQ(number_of(*stored, "expires_at"), (clock_.ms.load() + 24 * 3600 * 1000) / 1000);
}

TEST_F(dynamodb_store, a_live_lease_makes_others_busy_and_an_expired_one_is_taken_over_with_a_higher_fence) {
  auto a = host(10s);
  auto b = host(10s);
  ASSERT_EQ(a->begin("parcel-7").outcome, apply_outcome::applied);
  const auto first_fence = a->fence("parcel-7");
  EXPECT_GT(first_fence, 0);
  clock_.advance(9s);
  EXPECT_EQ(b->begin("parcel-7").outcome, apply_outcome::busy);
  clock_.advance(2s);  // a's lease ran out: a has died, or stalls
  ASSERT_EQ(b->begin("parcel-7").outcome, apply_outcome::applied);
  EXPECT_EQ(b->fence("parcel-7"), first_fence + 1);
  // a comes back: it can neither mark nor release what is b's now.
  try {
    a->commit("parcel-7");
    FAIL() << "a holder whose lease was taken over marked the key applied";
  } catch (const courier::error& e) {
    EXPECT_EQ(e.code(), courier::errc::lease_lost);
    EXPECT_THAT(e.what(), ::testing::HasSubstr("parcel-7"));
  }
  EXPECT_EQ(string_of(*record("parcel-7"), "status"), "IN_PROGRESS");
  b->commit("parcel-7");
  EXPECT_EQ(a->begin("parcel-7").outcome, apply_outcome::already_applied);
}

TEST_F(dynamodb_store, a_holder_taken_over_cannot_release_the_new_holders_claim) {
  auto a = host(10s);
  auto b = host(10s);
  ASSERT_EQ(a->begin("parcel-7").outcome, apply_outcome::applied);
  clock_.advance(11s);
  ASSERT_EQ(b->begin("parcel-7").outcome, apply_outcome::applied);
  try {
    a->abort("parcel-7");
    FAIL() << "a holder whose lease was taken over released the key";
  } catch (const courier::error& e) {
    EXPECT_EQ(e.code(), courier::errc::lease_lost);
  }
  EXPECT_EQ(a->begin("parcel-7").outcome, apply_outcome::busy);  // still b's
}

TEST_F(dynamodb_store, extend_keeps_a_long_handlers_lease) {
  auto a = host(10s);
  auto b = host(10s);
  ASSERT_EQ(a->begin("parcel-7").outcome, apply_outcome::applied);
  clock_.advance(8s);
  a->extend("parcel-7", 10s);
  clock_.advance(8s);  // 16 s after begin, 8 s after the extension
  EXPECT_EQ(b->begin("parcel-7").outcome, apply_outcome::busy);
  a->commit("parcel-7");
  EXPECT_EQ(b->begin("parcel-7").outcome, apply_outcome::already_applied);
}

TEST_F(dynamodb_store, the_claims_lease_is_the_callers_visibility_timeout_when_it_names_one) {
  auto a = host(30s);
  auto b = host(30s);
  ASSERT_EQ(a->begin({.key = "parcel-7", .lease = 2s}).outcome, apply_outcome::applied);
  clock_.advance(3s);
  EXPECT_EQ(b->begin("parcel-7").outcome, apply_outcome::applied);
}

TEST_F(dynamodb_store, a_key_reused_with_another_payload_is_refused_by_name) {
  auto a = host();
  auto b = host();
  ASSERT_EQ(a->begin({.key = "parcel-7", .payload = R"({"to":"Oslo"})"}).outcome, apply_outcome::applied);
  EXPECT_THROW(b->begin({.key = "parcel-7", .payload = R"({"to":"Rome"})"}), courier::error);  // in progress
  a->commit("parcel-7");
  try {
    b->apply_once({.key = "parcel-7", .payload = R"({"to":"Rome"})"},
                  [] { FAIL() << "ran for a reused key"; });
    FAIL() << "a reused key was skipped silently";
  } catch (const courier::error& e) {
    EXPECT_EQ(e.code(), courier::errc::idempotency_key_reused);
    EXPECT_THAT(e.what(), ::testing::HasSubstr("parcel-7"));
  }
  EXPECT_EQ(b->begin({.key = "parcel-7", .payload = R"({"to":"Oslo"})"}).outcome,
            apply_outcome::already_applied);
}

TEST_F(dynamodb_store, an_effect_that_throws_releases_the_key_at_once) {
  auto a = host();
  auto b = host();
  EXPECT_THROW(a->apply_once("parcel-7", [] { throw std::runtime_error("truck broke down"); }),
               std::runtime_error);
  EXPECT_FALSE(record("parcel-7"));
  int shipped = 0;
  EXPECT_EQ(b->apply_once("parcel-7", [&] { ++shipped; }), apply_outcome::applied);
  EXPECT_EQ(shipped, 1);
}

TEST_F(dynamodb_store, an_applied_key_is_forgotten_after_the_retention_even_before_dynamodb_deletes_it) {
  auto a = host(30s, 1h);
  int shipped = 0;
  a->apply_once("parcel-7", [&] { ++shipped; });
  clock_.advance(59min);
  EXPECT_EQ(a->apply_once("parcel-7", [&] { ++shipped; }), apply_outcome::already_applied);
  clock_.advance(2min);
  ASSERT_TRUE(record("parcel-7"));  // TTL deletion lags; the record is there
  EXPECT_EQ(a->apply_once("parcel-7", [&] { ++shipped; }), apply_outcome::applied);
  EXPECT_EQ(shipped, 2);
}

// The application's writes for one shipment: an item in its own table.
std::vector<json::object> ship(const std::string& table, const std::string& parcel) {
  return {json::object{{"Put",
                        {{"TableName", table},
                         {"Item", {{"id", string_value(parcel)}, {"state", string_value("shipped")}}}}}}};
}

TEST_F(dynamodb_store, apply_in_transaction_writes_the_effect_and_the_mark_together_once) {
  const std::string shipments = table_ + "-shipments";
  dynamo_.create_table({.name = shipments});
  auto a = host();
  auto b = host();
  int built = 0;
  auto writes = [&] {
    ++built;
    return ship(shipments, "parcel-7");
  };
  EXPECT_EQ(a->apply_in_transaction({.key = "parcel-7", .payload = "p7"}, writes), apply_outcome::applied);
  EXPECT_EQ(b->apply_in_transaction({.key = "parcel-7", .payload = "p7"}, writes),
            apply_outcome::already_applied);
  EXPECT_EQ(built, 2);  // built both times, written once
  EXPECT_TRUE(dynamo_.get_item(shipments, {{"id", string_value("parcel-7")}}));
  EXPECT_EQ(string_of(*record("parcel-7"), "status"), "APPLIED");
  EXPECT_THROW(b->apply_in_transaction({.key = "parcel-7", .payload = "p8"}, writes), courier::error);
  dynamo_.delete_table(shipments);
}

TEST_F(dynamodb_store, apply_in_transaction_is_busy_while_another_holds_a_live_lease_and_writes_nothing) {
  const std::string shipments = table_ + "-shipments";
  dynamo_.create_table({.name = shipments});
  auto a = host(10s);
  auto b = host(10s);
  ASSERT_EQ(a->begin("parcel-7").outcome, apply_outcome::applied);
  EXPECT_EQ(b->apply_in_transaction({.key = "parcel-7"}, [&] { return ship(shipments, "parcel-7"); }),
            apply_outcome::busy);
  EXPECT_FALSE(dynamo_.get_item(shipments, {{"id", string_value("parcel-7")}}));
  clock_.advance(11s);  // a died holding it
  EXPECT_EQ(b->apply_in_transaction({.key = "parcel-7"}, [&] { return ship(shipments, "parcel-7"); }),
            apply_outcome::applied);
  EXPECT_TRUE(dynamo_.get_item(shipments, {{"id", string_value("parcel-7")}}));
  dynamo_.delete_table(shipments);
}

TEST_F(dynamodb_store, an_application_write_that_fails_its_own_condition_is_named_and_nothing_is_written) {
  const std::string shipments = table_ + "-shipments";
  dynamo_.create_table({.name = shipments});
  auto a = host();
  auto refused = [&] {
    auto writes = ship(shipments, "parcel-7");
    writes[0]["Put"].as_object()["ConditionExpression"] = "attribute_exists(id)";  // it does not
    return writes;
  };
  try {
    a->apply_in_transaction({.key = "parcel-7"}, refused);
    FAIL() << "a transaction with a failed condition was reported as applied";
  } catch (const courier::aws::error& e) {
    EXPECT_EQ(e.aws_code(), "TransactionCanceledException");
    EXPECT_THAT(e.what(), ::testing::HasSubstr("write 0 of key parcel-7"));
  }
  EXPECT_FALSE(record("parcel-7"));
  EXPECT_FALSE(dynamo_.get_item(shipments, {{"id", string_value("parcel-7")}}));
  dynamo_.delete_table(shipments);
}

TEST_F(dynamodb_store, a_mark_with_no_writes_is_one_request_and_respects_leases) {
  auto a = host(10s);
  auto b = host(10s);
  auto none = [] { return std::vector<json::object>{}; };
  const auto before = dynamo_.requests_made();
  EXPECT_EQ(a->apply_in_transaction({.key = "parcel-7"}, none), apply_outcome::applied);
  EXPECT_EQ(dynamo_.requests_made() - before, 1U);
  EXPECT_EQ(b->apply_in_transaction({.key = "parcel-7"}, none), apply_outcome::already_applied);
  ASSERT_EQ(a->begin("parcel-8").outcome, apply_outcome::applied);
  EXPECT_EQ(b->apply_in_transaction({.key = "parcel-8"}, none), apply_outcome::busy);
  clock_.advance(11s);
  EXPECT_EQ(b->apply_in_transaction({.key = "parcel-8"}, none), apply_outcome::applied);
}

TEST_F(dynamodb_store, racing_hosts_apply_each_key_once) {
  constexpr int keys = 40;
  std::atomic<int> applied{0};
  std::vector<std::unique_ptr<courier::dynamodb::idempotent_store>> hosts;
  for (int h = 0; h < 3; ++h) hosts.push_back(host());
  std::vector<std::thread> threads;
  for (auto& store : hosts) {
    threads.emplace_back([&, s = store.get()] {
      for (int key = 0; key < keys; ++key) {
        // A busy key comes back later, as a nacked message would.
        while (s->apply_once(fmt::format("k{}", key), [&] { applied.fetch_add(1); }) == apply_outcome::busy) {
          std::this_thread::yield();
        }
      }
    });
  }
  for (auto& thread : threads) thread.join();
  EXPECT_EQ(applied.load(), keys);
}

TEST_F(dynamodb_store, the_table_helper_turns_ttl_on_and_may_run_again) {
  courier::dynamodb::idempotent_store::create_table(dynamo_, table_);  // exists: no error
  const auto ttl = dynamo_.call("DescribeTimeToLive", {{"TableName", table_}});
  EXPECT_EQ(ttl.at("TimeToLiveDescription").at("AttributeName").as_string(), "expires_at");
  EXPECT_EQ(ttl.at("TimeToLiveDescription").at("TimeToLiveStatus").as_string(), "ENABLED");
}

TEST_F(dynamodb_store, a_missing_table_is_an_error_that_names_it) {
  courier::dynamodb::idempotent_store lost(dynamo_, {.table = "no-such-table"});
  try {
    lost.begin("parcel-7");
    FAIL() << "a claim in a missing table succeeded";
  } catch (const courier::aws::error& e) {
    EXPECT_EQ(e.service(), "DynamoDB");
    EXPECT_EQ(e.aws_code(), "ResourceNotFoundException");
  }
  EXPECT_THROW(courier::dynamodb::idempotent_store(dynamo_, {}), courier::error);
}

}  // namespace
