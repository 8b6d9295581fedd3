#include "courier/testing/faulty.hpp"

#include "courier/channel.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <vector>

namespace {

using namespace std::chrono_literals;
using courier::testing::fault_dice;

struct order {
  int number;
};

// Applies each order once per message id, as an exactly-once consumer must.
struct idempotent_store {
  std::mutex mutex;
  std::set<std::uint64_t> applied_ids;
  std::map<int, int> applied;  // order number -> times applied
  void operator()(courier::delivery<order>& d) {
    std::lock_guard lock(mutex);
    if (applied_ids.insert(d.id().value).second) ++applied[d.message().number];
  }
};

// Drives channel by hand with a manual clock until every order is acked.
template <class Handler>
void drain(courier::channel<order>& channel, courier::manual_clock& clock, Handler& handler) {
  for (int round = 0; round < 1000 && channel.stats().waiting > 0; ++round) {
    auto batch = channel.receive(16);
    if (batch.empty()) clock.advance(31s);  // what is left waits out a visibility timeout
    for (auto& d : batch) {
      try {
        handler(d);
        if (!d.settled()) d.ack();
      } catch (const courier::testing::injected_fault&) {
        d.nack();
      } catch (const courier::error&) {  // a stale ack after a stall: the message went to someone else
      }
    }
  }
}

struct fixture {
  std::shared_ptr<courier::manual_clock> clock = std::make_shared<courier::manual_clock>();
  courier::channel<order> channel{{.visibility_timeout = 30s, .time_source = clock}};
  idempotent_store store;
  void send(int n) {
    for (int i = 0; i < n; ++i) channel.send(order{i});
  }
};

TEST(faulty, failing_throws_on_the_picked_calls_before_the_handler_runs) {
  fixture f;
  f.send(3);
  int calls = 0;
  auto handler = courier::testing::failing([&](const order&) { ++calls; }, fault_dice::nth(2));
  auto batch = f.channel.receive(3);
  handler(batch[0]);
  EXPECT_THROW(handler(batch[1]), courier::testing::injected_fault);
  handler(batch[2]);
  EXPECT_EQ(calls, 2);
}

TEST(faulty, failing_after_applies_then_throws_and_the_redelivery_is_not_applied_twice) {
  fixture f;
  f.send(50);
  auto handler = courier::testing::failing_after(std::ref(f.store), fault_dice::rate(0.3, 7));
  drain(f.channel, *f.clock, handler);
  EXPECT_EQ(f.channel.stats().waiting, 0U);
  ASSERT_EQ(f.store.applied.size(), 50U);
  for (const auto& [number, times] : f.store.applied) EXPECT_EQ(times, 1) << "order " << number;
  EXPECT_GT(f.channel.stats().deliveries, 50U);  // the failures really caused redeliveries
}

TEST(faulty, losing_acks_leaves_the_delivery_to_expire_and_it_comes_back) {
  fixture f;
  f.send(1);
  auto handler = courier::testing::losing_acks(std::ref(f.store), fault_dice::nth(1));
  auto first = f.channel.receive(1);
  handler(first[0]);
  EXPECT_TRUE(first[0].settled());            // so consume() would not ack it
  EXPECT_TRUE(f.channel.receive(1).empty());  // still in flight, not acked
  f.clock->advance(31s);
  auto again = f.channel.receive(1);
  ASSERT_EQ(again.size(), 1U);
  EXPECT_EQ(again[0].receive_count(), 2U);
}

TEST(faulty, stalling_moves_the_clock_past_the_visibility_timeout_before_the_ack) {
  fixture f;
  f.send(1);
  auto handler = courier::testing::stalling(std::ref(f.store), fault_dice::nth(1), f.clock, 31s);
  auto first = f.channel.receive(1);
  handler(first[0]);
  auto again = f.channel.receive(1);  // another consumer gets it meanwhile
  ASSERT_EQ(again.size(), 1U);
  try {
    first[0].ack();
    FAIL() << "the stalled consumer's ack was accepted";
  } catch (const courier::error& failure) {
    EXPECT_EQ(failure.code(), courier::errc::stale_receipt);
  }
}

TEST(faulty, consume_takes_the_wrapped_handlers) {
  courier::channel<order> channel({.visibility_timeout = 30s});
  std::vector<courier::delivery_receipt> receipts;
  for (int i = 0; i < 20; ++i) receipts.push_back(channel.send(order{i}, {.track_delivery = true}).receipt);
  std::set<int> seen;
  std::mutex mutex;
  auto counting = [&](const order& o) {
    std::lock_guard lock(mutex);
    seen.insert(o.number);
  };
  auto running =
      channel.consume(courier::testing::failing(counting, fault_dice::every(4)),
                      {.concurrency = 1, .poll = 5ms}, [](courier::message_id, std::exception_ptr) {});
  for (const auto& receipt : receipts) EXPECT_EQ(receipt.wait_for(10s), courier::delivery_outcome::acked);
  running.stop();
  EXPECT_EQ(seen.size(), 20U);
  EXPECT_GT(channel.stats().deliveries, 20U);  // every 4th call failed and came again
}

TEST(faulty, fail_when_wraps_any_call_and_passes_its_result_through) {
  int sent = 0;
  auto send = courier::testing::fail_when(
      fault_dice::nth(2), [&](int bytes) { return sent += bytes; }, "injected: connection reset");
  EXPECT_EQ(send(3), 3);
  try {
    send(4);
    FAIL() << "the second call went through";
  } catch (const courier::testing::injected_fault& failure) {
    EXPECT_STREQ(failure.what(), "injected: connection reset");
  }
  EXPECT_EQ(send(5), 8);
}

}  // namespace
