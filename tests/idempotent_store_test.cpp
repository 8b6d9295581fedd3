#include "courier/idempotent_store.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <memory>
#include <stdexcept>
#include <thread>
#include <vector>

namespace {

using namespace std::chrono_literals;
using courier::apply_outcome;

TEST(idempotent_store, an_effect_runs_once_per_key) {
  courier::memory_idempotent_store store;
  int shipped = 0;
  EXPECT_EQ(store.apply_once("parcel-7", [&] { ++shipped; }), apply_outcome::applied);
  EXPECT_EQ(store.apply_once("parcel-7", [&] { ++shipped; }), apply_outcome::already_applied);
  EXPECT_EQ(store.apply_once("parcel-8", [&] { ++shipped; }), apply_outcome::applied);
  EXPECT_EQ(shipped, 2);
  EXPECT_EQ(store.size(), 2U);
}

TEST(idempotent_store, an_effect_that_throws_leaves_the_key_for_the_redelivery) {
  courier::memory_idempotent_store store;
  EXPECT_THROW(store.apply_once("parcel-7", [] { throw std::runtime_error("truck broke down"); }),
               std::runtime_error);
  int shipped = 0;
  EXPECT_EQ(store.apply_once("parcel-7", [&] { ++shipped; }), apply_outcome::applied);
  EXPECT_EQ(shipped, 1);
}

TEST(idempotent_store, a_key_being_applied_elsewhere_is_busy) {
  courier::memory_idempotent_store store;
  EXPECT_EQ(store.begin("parcel-7").outcome, apply_outcome::applied);
  EXPECT_EQ(store.apply_once("parcel-7", [] { FAIL() << "ran while another caller held the key"; }),
            apply_outcome::busy);
  store.commit("parcel-7");
  EXPECT_EQ(store.begin("parcel-7").outcome, apply_outcome::already_applied);
}

TEST(idempotent_store, keys_are_forgotten_after_the_retention) {
  auto clock = std::make_shared<courier::manual_clock>();
  courier::memory_idempotent_store store(1h, clock);
  int shipped = 0;
  store.apply_once("parcel-7", [&] { ++shipped; });
  clock->advance(59min);
  EXPECT_EQ(store.apply_once("parcel-7", [&] { ++shipped; }), apply_outcome::already_applied);
  clock->advance(2min);
  EXPECT_EQ(store.apply_once("parcel-7", [&] { ++shipped; }), apply_outcome::applied);
  EXPECT_EQ(shipped, 2);
}

TEST(idempotent_store, a_key_reused_with_another_payload_is_refused_by_name) {
  courier::memory_idempotent_store store;
  int shipped = 0;
  EXPECT_EQ(store.apply_once({.key = "parcel-7", .payload = R"({"to":"Oslo"})"}, [&] { ++shipped; }),
            apply_outcome::applied);
  EXPECT_EQ(store.apply_once({.key = "parcel-7", .payload = R"({"to":"Oslo"})"}, [&] { ++shipped; }),
            apply_outcome::already_applied);
  try {
    store.apply_once({.key = "parcel-7", .payload = R"({"to":"Rome"})"}, [&] { ++shipped; });
    FAIL() << "a reused key with another payload was skipped silently";
  } catch (const courier::error& e) {
    EXPECT_EQ(e.code(), courier::errc::idempotency_key_reused);
    EXPECT_THAT(e.what(), ::testing::HasSubstr("parcel-7"));
  }
  // While in progress too: the second caller learns of the reuse, not "busy".
  EXPECT_EQ(store.begin({.key = "parcel-8", .payload = "a"}).outcome, apply_outcome::applied);
  EXPECT_THROW(store.begin({.key = "parcel-8", .payload = "b"}), courier::error);
  EXPECT_EQ(store.begin({.key = "parcel-8", .payload = "a"}).outcome, apply_outcome::busy);
  EXPECT_EQ(shipped, 1);
}

TEST(idempotent_store, a_duplicate_gets_the_first_result) {
  courier::memory_idempotent_store store;
  int quoted = 0;
  auto quote = [&] { return "price " + std::to_string(100 + quoted++); };
  const auto first = store.apply_once_with_result({.key = "quote-1"}, quote);
  EXPECT_EQ(first.outcome, apply_outcome::applied);
  EXPECT_EQ(first.result, "price 100");
  const auto again = store.apply_once_with_result({.key = "quote-1"}, quote);
  EXPECT_EQ(again.outcome, apply_outcome::already_applied);
  EXPECT_EQ(again.result, "price 100");
  EXPECT_EQ(quoted, 1);
}

TEST(idempotent_store, racing_redeliveries_apply_each_key_once) {
  courier::memory_idempotent_store store;
  std::atomic<int> applied{0};
  std::vector<std::thread> consumers;
  for (int c = 0; c < 4; ++c) {
    consumers.emplace_back([&] {
      for (int key = 0; key < 1000; ++key) {
        // A busy key comes back later, as a nacked message would.
        while (store.apply_once("k" + std::to_string(key), [&] { applied.fetch_add(1); }) ==
               apply_outcome::busy) {
          std::this_thread::yield();
        }
      }
    });
  }
  for (auto& consumer : consumers) consumer.join();
  EXPECT_EQ(applied.load(), 1000);
}

}  // namespace
