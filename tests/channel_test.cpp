// courier::channel<T>: each guarantee of docs/guarantees.md, driven by a
// manual clock so that nothing here sleeps.
#include "courier/channel.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <memory>
#include <optional>
#include <set>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace {

using namespace std::chrono_literals;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

struct parcel {
  int number;
  std::string vendor;
};

// A channel on a manual clock, and helpers to read it.
struct fixture {
  std::shared_ptr<courier::manual_clock> clock = std::make_shared<courier::manual_clock>();

  courier::channel_options<parcel> options(courier::ordering order = courier::ordering::none) {
    return {.ordering = order, .time_source = clock};
  }
};

std::vector<int> numbers(const std::vector<courier::delivery<parcel>>& deliveries) {
  std::vector<int> out;
  for (const auto& d : deliveries) out.push_back(d.message().number);
  return out;
}

template <class Call>
courier::errc error_of(Call&& call) {
  try {
    call();
  } catch (const courier::error& failure) {
    return static_cast<courier::errc>(failure.code().value());
  }
  ADD_FAILURE() << "expected a courier::error";
  return {};
}

TEST(channel, a_sent_message_is_received_once_and_acked) {
  fixture f;
  courier::channel<parcel> channel(f.options());
  const auto sent = channel.send(parcel{1, "acme"});
  EXPECT_FALSE(sent.duplicate);
  auto got = channel.receive(10);
  ASSERT_EQ(got.size(), 1U);
  EXPECT_EQ(got[0].id(), sent.id);
  EXPECT_EQ(got[0].message().vendor, "acme");
  EXPECT_EQ(got[0].receive_count(), 1U);
  EXPECT_TRUE(channel.receive(10).empty());  // hidden while in flight
  EXPECT_EQ(channel.ack(got[0].receipt()), courier::ack_result::acked);
  f.clock->advance(1h);
  EXPECT_TRUE(channel.receive(10).empty());  // acked: never again
  const auto stats = channel.stats();
  EXPECT_EQ(stats.accepted, 1U);
  EXPECT_EQ(stats.acked, 1U);
  EXPECT_EQ(stats.waiting, 0U);
}

TEST(channel, a_fifo_send_without_a_group_is_refused_and_queues_nothing) {
  fixture f;
  courier::channel<parcel> channel(f.options(courier::ordering::fifo));
  EXPECT_EQ(error_of([&] { channel.send(parcel{1, "acme"}); }), courier::errc::missing_group);
  EXPECT_EQ(channel.stats().waiting, 0U);
}

TEST(channel, a_fifo_group_is_held_while_its_head_is_in_flight) {
  fixture f;
  courier::channel<parcel> channel(f.options(courier::ordering::fifo));
  for (int n = 1; n <= 3; ++n) channel.send(parcel{n, "acme"}, {.group = "acme"});
  channel.send(parcel{10, "zest"}, {.group = "zest"});
  auto first = channel.receive(10);
  EXPECT_THAT(numbers(first), ElementsAre(1, 10));  // one per group
  EXPECT_TRUE(channel.receive(10).empty());
  channel.ack(first[0].receipt());
  auto second = channel.receive(10);
  EXPECT_THAT(numbers(second), ElementsAre(2));
  channel.ack(second[0].receipt());
  EXPECT_THAT(numbers(channel.receive(10)), ElementsAre(3));
}

TEST(channel, fifo_order_survives_a_redelivery) {
  fixture f;
  courier::channel<parcel> channel(f.options(courier::ordering::fifo));
  channel.send(parcel{1, "acme"}, {.group = "g"});
  channel.send(parcel{2, "acme"}, {.group = "g"});
  auto lost = channel.receive();
  ASSERT_THAT(numbers(lost), ElementsAre(1));
  f.clock->advance(31s);  // the consumer died: its visibility runs out
  auto again = channel.receive(10);
  ASSERT_THAT(numbers(again), ElementsAre(1));  // 1 again, and 2 still held
  EXPECT_EQ(again[0].receive_count(), 2U);
  channel.ack(again[0].receipt());
  EXPECT_THAT(numbers(channel.receive(10)), ElementsAre(2));
}

TEST(channel, a_slow_group_does_not_hold_up_another) {
  fixture f;
  courier::channel<parcel> channel(f.options(courier::ordering::fifo));
  channel.send(parcel{1, "slow"}, {.group = "slow"});
  channel.send(parcel{2, "slow"}, {.group = "slow"});
  auto slow = channel.receive();  // never acked
  for (int n = 10; n < 13; ++n) {
    channel.send(parcel{n, "fast"}, {.group = "fast"});
    auto got = channel.receive();
    ASSERT_THAT(numbers(got), ElementsAre(n));
    channel.ack(got[0].receipt());
  }
}

TEST(channel, a_key_seen_within_the_window_is_a_duplicate_even_after_its_ack) {
  fixture f;
  courier::channel<parcel> channel(f.options());
  const auto first = channel.send(parcel{1, "acme"}, {.idempotency_key = "k1"});
  const auto retry = channel.send(parcel{1, "acme"}, {.idempotency_key = "k1"});
  EXPECT_TRUE(retry.duplicate);
  EXPECT_EQ(retry.id, first.id);
  EXPECT_EQ(retry.sequence, first.sequence);
  auto got = channel.receive(10);
  ASSERT_EQ(got.size(), 1U);
  channel.ack(got[0].receipt());
  f.clock->advance(4min);
  const auto late = channel.send(parcel{1, "acme"}, {.idempotency_key = "k1"});
  EXPECT_TRUE(late.duplicate);  // SQS keeps keys after delete; so do we
  EXPECT_EQ(late.id, first.id);
  EXPECT_TRUE(channel.receive(10).empty());
  f.clock->advance(61s);  // the window (5 min from the first send) is over
  const auto fresh = channel.send(parcel{1, "acme"}, {.idempotency_key = "k1"});
  EXPECT_FALSE(fresh.duplicate);
  EXPECT_NE(fresh.id, first.id);
  EXPECT_EQ(channel.stats().duplicates, 2U);
}

TEST(channel, content_dedup_uses_the_encoded_body) {
  fixture f;
  auto options = f.options();
  options.content_dedup = [](const parcel& p) { return std::to_string(p.number) + "|" + p.vendor; };
  courier::channel<parcel> channel(options);
  const auto a = channel.send(parcel{1, "acme"});
  EXPECT_TRUE(channel.send(parcel{1, "acme"}).duplicate);
  EXPECT_FALSE(channel.send(parcel{2, "acme"}).duplicate);
  // An explicit key wins over the content hash.
  EXPECT_FALSE(channel.send(parcel{1, "acme"}, {.idempotency_key = "other"}).duplicate);
  EXPECT_EQ(channel.stats().accepted, 3U);
  EXPECT_EQ(channel.send(parcel{1, "acme"}).id, a.id);
}

TEST(channel, a_zero_window_turns_dedup_off) {
  fixture f;
  auto options = f.options();
  options.dedup_window = 0ms;
  courier::channel<parcel> channel(options);
  channel.send(parcel{1, "acme"}, {.idempotency_key = "k"});
  EXPECT_FALSE(channel.send(parcel{1, "acme"}, {.idempotency_key = "k"}).duplicate);
  EXPECT_EQ(channel.receive(10).size(), 2U);
}

TEST(channel, acking_twice_is_harmless_and_says_so) {
  fixture f;
  courier::channel<parcel> channel(f.options());
  channel.send(parcel{1, "acme"});
  auto got = channel.receive();
  EXPECT_EQ(channel.ack(got[0].receipt()), courier::ack_result::acked);
  EXPECT_EQ(channel.ack(got[0].receipt()), courier::ack_result::already_acked);
  EXPECT_EQ(channel.stats().acked, 1U);
}

TEST(channel, a_batch_ack_settles_each_and_reports_the_ones_it_refused) {
  fixture f;
  courier::channel<parcel> channel(f.options(courier::ordering::fifo));
  for (int i = 1; i <= 3; ++i) channel.send(parcel{i, "acme"}, {.group = "g" + std::to_string(i)});
  channel.send(parcel{4, "acme"}, {.group = "g1"});  // behind 1 in its group
  auto got = channel.receive(10);
  ASSERT_EQ(got.size(), 3U);
  ASSERT_EQ(channel.ack(got[2].receipt()), courier::ack_result::acked);  // acked before the batch
  const courier::receipt never_issued{got[0].id(), got[0].receipt().delivery + 100};
  const std::vector<courier::receipt> batch = {got[0].receipt(), got[1].receipt(), got[2].receipt(),
                                               never_issued};
  const auto result = channel.ack(batch);
  EXPECT_EQ(result.acked, 2U);
  EXPECT_EQ(result.already_acked, 1U);
  ASSERT_EQ(result.failed.size(), 1U);
  EXPECT_FALSE(result.ok());
  EXPECT_EQ(result.failed[0].first, never_issued);
  EXPECT_EQ(result.failed[0].second.code(), courier::errc::stale_receipt);
  EXPECT_EQ(channel.stats().acked, 3U);
  EXPECT_THAT(numbers(channel.receive(10)), ElementsAre(4));  // g1 moved on after the batch
}

TEST(channel, a_stale_receipt_fails_clearly_and_changes_nothing) {
  fixture f;
  courier::channel<parcel> channel(f.options());
  channel.send(parcel{1, "acme"});
  auto first = channel.receive();
  f.clock->advance(31s);
  auto second = channel.receive();  // the message went to someone else
  ASSERT_EQ(second.size(), 1U);
  try {
    channel.ack(first[0].receipt());
    FAIL() << "a stale ack was accepted";
  } catch (const courier::error& failure) {
    EXPECT_EQ(failure.code(), courier::errc::stale_receipt);
    EXPECT_THAT(failure.what(), HasSubstr("delivered again"));
  }
  EXPECT_EQ(error_of([&] { channel.nack(first[0].receipt()); }), courier::errc::stale_receipt);
  EXPECT_EQ(error_of([&] { channel.extend(first[0].receipt(), 1min); }), courier::errc::stale_receipt);
  EXPECT_EQ(channel.stats().in_flight, 1U);
  EXPECT_EQ(channel.ack(second[0].receipt()), courier::ack_result::acked);  // the live one still works
  EXPECT_EQ(error_of([&] { channel.ack(first[0].receipt()); }), courier::errc::stale_receipt);
}

TEST(channel, an_expired_delivery_may_still_ack_until_someone_else_receives_it) {
  fixture f;
  courier::channel<parcel> channel(f.options());
  channel.send(parcel{1, "acme"});
  auto got = channel.receive();
  f.clock->advance(31s);
  EXPECT_EQ(channel.ack(got[0].receipt()), courier::ack_result::acked);
  EXPECT_TRUE(channel.receive(10).empty());
}

TEST(channel, an_unknown_receipt_is_refused) {
  fixture f;
  courier::channel<parcel> channel(f.options());
  EXPECT_EQ(error_of([&] {
              channel.ack(courier::receipt{courier::message_id{42}, 1});
            }),
            courier::errc::unknown_receipt);
}

TEST(channel, a_nack_delivers_again_after_its_delay) {
  fixture f;
  courier::channel<parcel> channel(f.options());
  channel.send(parcel{1, "acme"});
  auto got = channel.receive();
  channel.nack(got[0].receipt(), 10s);
  EXPECT_EQ(error_of([&] { channel.ack(got[0].receipt()); }), courier::errc::stale_receipt);
  EXPECT_TRUE(channel.receive().empty());
  f.clock->advance(10s);
  auto again = channel.receive();
  ASSERT_EQ(again.size(), 1U);
  EXPECT_EQ(again[0].receive_count(), 2U);
}

TEST(channel, extend_keeps_a_delivery_hidden) {
  fixture f;
  courier::channel<parcel> channel(f.options());
  channel.send(parcel{1, "acme"});
  auto got = channel.receive();
  f.clock->advance(20s);
  channel.extend(got[0].receipt(), 60s);
  f.clock->advance(30s);  // 50 s after receive: past the 30 s timeout, inside the extension
  EXPECT_TRUE(channel.receive().empty());
  f.clock->advance(31s);
  EXPECT_EQ(channel.receive().size(), 1U);
}

TEST(channel, a_delayed_message_waits_its_turn) {
  fixture f;
  courier::channel<parcel> channel(f.options(courier::ordering::fifo));
  channel.send(parcel{1, "acme"}, {.group = "g", .delay = 5s});
  channel.send(parcel{2, "acme"}, {.group = "g"});
  EXPECT_TRUE(channel.receive(10).empty());  // the group's head is not visible yet
  f.clock->advance(5s);
  EXPECT_THAT(numbers(channel.receive(10)), ElementsAre(1));
}

TEST(channel, after_max_receives_a_message_is_dead_lettered_and_its_group_moves_on) {
  fixture f;
  auto options = f.options(courier::ordering::fifo);
  options.max_receives = 2;
  courier::channel<parcel> channel(options);
  const auto poison = channel.send(parcel{1, "acme"}, {.group = "g", .track_delivery = true});
  channel.send(parcel{2, "acme"}, {.group = "g"});
  auto got = channel.receive();
  channel.nack(got[0].receipt());
  got = channel.receive();
  ASSERT_THAT(numbers(got), ElementsAre(1));
  channel.nack(got[0].receipt());  // the second failure: dead letter
  EXPECT_EQ(poison.receipt.peek(), courier::delivery_outcome::dead_lettered);
  EXPECT_THAT(numbers(channel.receive(10)), ElementsAre(2));
  auto dead = channel.dead_letters().receive(10);
  ASSERT_EQ(dead.size(), 1U);
  EXPECT_EQ(dead[0].message().number, 1);
  EXPECT_EQ(dead[0].group(), "g");
  EXPECT_EQ(dead[0].sequence(), poison.sequence);
  EXPECT_EQ(channel.stats().dead_lettered, 1U);
  channel.dead_letters().nack(dead[0].receipt());
  EXPECT_EQ(channel.redrive(), 1U);
  EXPECT_TRUE(channel.dead_letters().receive(10).empty());
  EXPECT_EQ(channel.stats().waiting, 2U);  // 2 (in flight) and the redriven 1 behind it
}

TEST(channel, a_visibility_timeout_past_max_receives_also_dead_letters) {
  fixture f;
  auto options = f.options();
  options.max_receives = 1;
  courier::channel<parcel> channel(options);
  channel.send(parcel{7, "acme"});
  auto got = channel.receive();
  f.clock->advance(31s);
  EXPECT_TRUE(channel.receive().empty());
  EXPECT_EQ(error_of([&] { channel.ack(got[0].receipt()); }), courier::errc::stale_receipt);
  EXPECT_THAT(numbers(channel.dead_letters().receive()), ElementsAre(7));
}

TEST(channel, a_sender_can_await_the_outcome) {
  fixture f;
  courier::channel<parcel> channel(f.options());
  const auto untracked = channel.send(parcel{0, "acme"});
  EXPECT_FALSE(untracked.receipt.valid());
  const auto tracked = channel.send(parcel{1, "acme"}, {.idempotency_key = "k", .track_delivery = true});
  ASSERT_TRUE(tracked.receipt.valid());
  EXPECT_EQ(tracked.receipt.peek(), std::nullopt);
  const auto retry = channel.send(parcel{1, "acme"}, {.idempotency_key = "k", .track_delivery = true});
  std::thread consumer([&] {
    for (auto& d : channel.receive(10, 5s)) d.ack();
  });
  EXPECT_EQ(tracked.receipt.get(), courier::delivery_outcome::acked);
  EXPECT_EQ(retry.receipt.get(), courier::delivery_outcome::acked);  // the duplicate shares it
  consumer.join();
  const auto after = channel.send(parcel{1, "acme"}, {.idempotency_key = "k", .track_delivery = true});
  EXPECT_EQ(after.receipt.peek(), courier::delivery_outcome::acked);  // settled before it asked
}

TEST(channel, a_receipt_times_out_when_nobody_acks_in_time) {
  fixture f;
  courier::channel<parcel> channel(f.options());
  const auto sent = channel.send(parcel{1, "acme"}, {.track_delivery = true, .receipt_timeout = 2s});
  f.clock->advance(2s);
  EXPECT_EQ(channel.receive().size(), 1U);  // the message stays; the sender stopped waiting
  EXPECT_EQ(sent.receipt.peek(), courier::delivery_outcome::timed_out);
}

TEST(channel, destroying_a_channel_abandons_open_receipts) {
  fixture f;
  auto channel = std::make_unique<courier::channel<parcel>>(f.options());
  const auto sent = channel->send(parcel{1, "acme"}, {.track_delivery = true});
  channel.reset();
  EXPECT_EQ(sent.receipt.peek(), courier::delivery_outcome::abandoned);
}

TEST(channel, try_send_says_no_when_full_and_send_fails_after_its_timeout) {
  fixture f;
  auto options = f.options();
  options.capacity = 2;
  options.send_timeout = 20ms;
  courier::channel<parcel> channel(options);
  ASSERT_TRUE(channel.try_send(parcel{1, "acme"}, {.idempotency_key = "a"}));
  ASSERT_TRUE(channel.try_send(parcel{2, "acme"}));
  EXPECT_FALSE(channel.try_send(parcel{3, "acme"}));
  EXPECT_TRUE(channel.try_send(parcel{1, "acme"}, {.idempotency_key = "a"})->duplicate);  // needs no room
  try {
    channel.send(parcel{3, "acme"});
    FAIL() << "send into a full channel returned";
  } catch (const courier::error& failure) {
    EXPECT_EQ(failure.code(), courier::errc::channel_full);
    EXPECT_THAT(failure.what(), HasSubstr("capacity 2"));
  }
  EXPECT_EQ(channel.stats().waiting, 2U);
}

TEST(channel, a_blocked_send_goes_through_once_a_message_is_acked) {
  fixture f;
  auto options = f.options();
  options.capacity = 1;
  courier::channel<parcel> channel(options);
  channel.send(parcel{1, "acme"});
  std::atomic<bool> sent{false};
  std::thread producer([&] {
    channel.send(parcel{2, "acme"});
    sent = true;
  });
  auto got = channel.receive();
  EXPECT_FALSE(sent.load());
  channel.ack(got[0].receipt());
  producer.join();
  EXPECT_TRUE(sent.load());
  EXPECT_THAT(numbers(channel.receive()), ElementsAre(2));
}

TEST(channel, receive_waits_for_a_send_from_another_thread) {
  fixture f;
  courier::channel<parcel> channel(f.options());
  std::thread producer([&] { channel.send(parcel{9, "acme"}); });
  auto got = channel.receive(1, 10s);
  producer.join();
  EXPECT_THAT(numbers(got), ElementsAre(9));
}

// A plain send (no key, no delay, no delivery receipt) is queued without
// the channel's lock (send_intake.hpp): a receiver asleep in receive() must
// still be woken by it, not by its own deadline.
TEST(channel, a_plain_send_wakes_a_receiver_that_is_asleep) {
  fixture f;
  courier::channel<parcel> channel(f.options());
  std::atomic<bool> receiving{false};
  std::vector<courier::delivery<parcel>> got;
  std::thread receiver([&] {
    receiving = true;
    got = channel.receive(1, 60s);
  });
  while (!receiving) std::this_thread::yield();
  std::this_thread::sleep_for(20ms);  // past its spin: asleep on the condition variable
  const auto sent_at = std::chrono::steady_clock::now();
  channel.send(parcel{5, "acme"});
  receiver.join();
  EXPECT_THAT(numbers(got), ElementsAre(5));
  EXPECT_LT(std::chrono::steady_clock::now() - sent_at, 30s) << "woken by the send, not by its deadline";
}

// Producers mixing plain sends (queued without the lock) with keyed ones
// (through the lock), on a channel small enough that they wait for room:
// every message arrives once, and the
// sequence numbers follow each producer's send order, as the ids do.
TEST(channel, plain_and_keyed_sends_from_several_threads_arrive_once_in_each_senders_order) {
  fixture f;
  courier::channel<parcel> channel({.capacity = 64, .time_source = f.clock});
  constexpr int producers = 3;
  constexpr int each = 3000;
  std::vector<std::thread> threads;
  std::vector<std::vector<std::uint64_t>> sequences(producers);
  for (int p = 0; p < producers; ++p) {
    threads.emplace_back([&, p] {
      for (int i = 0; i < each; ++i) {
        courier::send_options options;
        if (i % 7 == 0) options.idempotency_key = std::to_string(p) + "-" + std::to_string(i);
        const auto sent = channel.send(parcel{p * each + i, "acme"}, std::move(options));
        EXPECT_FALSE(sent.duplicate);
        sequences[static_cast<std::size_t>(p)].push_back(sent.sequence);
      }
    });
  }
  std::set<int> seen;
  std::vector<std::vector<std::uint64_t>> received(producers);
  int duplicates = 0;
  while (seen.size() < static_cast<std::size_t>(producers * each)) {
    auto batch = channel.receive(32, 10s);
    ASSERT_FALSE(batch.empty()) << "a sent message never arrived (" << seen.size() << " of "
                                << producers * each << ")";
    for (auto& item : batch) {
      if (!seen.insert(item.message().number).second) ++duplicates;
      received[static_cast<std::size_t>(item.message().number / each)].push_back(item.sequence());
      EXPECT_EQ(item.id().value, item.sequence()) << "ids and sequences are handed out together";
      item.ack();
    }
  }
  for (auto& thread : threads) thread.join();
  EXPECT_EQ(duplicates, 0);
  for (int p = 0; p < producers; ++p) {
    const auto& sent = sequences[static_cast<std::size_t>(p)];
    EXPECT_TRUE(std::is_sorted(sent.begin(), sent.end())) << "producer " << p;
    EXPECT_EQ(received[static_cast<std::size_t>(p)], sent) << "producer " << p << ": delivered in send order";
  }
  EXPECT_TRUE(channel.receive(1).empty());
  EXPECT_EQ(channel.stats().accepted, static_cast<std::uint64_t>(producers * each));
}

// Keyed sends skip the channel's lock (their keys are checked under a lock
// of their own) unless they ask for a delivery receipt: both kinds, racing
// on the same keys from several threads, queue each key exactly once.
TEST(channel, sends_of_one_key_from_several_threads_queue_it_once_with_or_without_a_receipt) {
  fixture f;
  courier::channel<parcel> channel({.capacity = 256, .time_source = f.clock});
  constexpr int senders = 4;
  constexpr int keys = 2000;
  std::vector<std::vector<courier::send_result>> results(senders);
  std::vector<std::thread> threads;
  for (int s = 0; s < senders; ++s) {
    threads.emplace_back([&, s] {
      for (int k = 0; k < keys; ++k) {
        // Sender 0 asks for receipts (the locked path); the others do not.
        results[static_cast<std::size_t>(s)].push_back(channel.send(
            parcel{k, "acme"}, {.idempotency_key = "key-" + std::to_string(k), .track_delivery = s == 0}));
      }
    });
  }
  std::vector<int> received_per_key(keys, 0);
  std::vector<std::uint64_t> id_of_key(keys, 0);
  int received = 0;
  std::atomic<bool> all_sent{false};
  std::thread joiner([&] {
    for (auto& thread : threads) thread.join();
    all_sent = true;
  });
  for (;;) {
    const bool all_sent_before = all_sent;  // then an empty receive means nothing is left
    auto batch = channel.receive(64, 100ms);
    for (auto& item : batch) {
      ++received_per_key[static_cast<std::size_t>(item.message().number)];
      id_of_key[static_cast<std::size_t>(item.message().number)] = item.id().value;
      ++received;
      item.ack();
    }
    if (batch.empty() && all_sent_before) break;
  }
  joiner.join();
  EXPECT_EQ(received, keys);
  for (int k = 0; k < keys; ++k) {
    ASSERT_EQ(received_per_key[static_cast<std::size_t>(k)], 1) << "key " << k;
    int accepted = 0;
    for (int s = 0; s < senders; ++s) {
      const auto& result = results[static_cast<std::size_t>(s)][static_cast<std::size_t>(k)];
      EXPECT_EQ(result.id.value, id_of_key[static_cast<std::size_t>(k)]) << "key " << k << ", sender " << s;
      if (!result.duplicate) ++accepted;
    }
    EXPECT_EQ(accepted, 1) << "key " << k;
  }
  EXPECT_EQ(channel.stats().duplicates, static_cast<std::uint64_t>((senders - 1) * keys));
  EXPECT_EQ(channel.stats().accepted, static_cast<std::uint64_t>(keys));
}

// A duplicate is answered from the window even when the channel is full; a
// receipt asked for on a duplicate follows the message first sent with the
// key, also while that send still waits in the intake.
TEST(channel, a_duplicate_is_answered_when_the_channel_is_full_and_its_receipt_follows_the_first_send) {
  fixture f;
  courier::channel<parcel> channel({.capacity = 1, .time_source = f.clock});
  const auto first = channel.send(parcel{1, "acme"}, {.idempotency_key = "k1"});
  const auto again = channel.try_send(parcel{1, "acme"}, {.idempotency_key = "k1"});
  ASSERT_TRUE(again) << "a duplicate needs no room";
  EXPECT_TRUE(again->duplicate);
  EXPECT_EQ(again->id, first.id);
  EXPECT_EQ(again->sequence, first.sequence);
  EXPECT_FALSE(channel.try_send(parcel{2, "acme"}, {.idempotency_key = "k2"})) << "full";
  const auto tracked = channel.send(parcel{1, "acme"}, {.idempotency_key = "k1", .track_delivery = true});
  EXPECT_TRUE(tracked.duplicate);
  ASSERT_TRUE(tracked.receipt.valid());
  auto got = channel.receive(1);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].id(), first.id);
  got[0].ack();
  EXPECT_EQ(tracked.receipt.wait_for(1s), courier::delivery_outcome::acked);
  EXPECT_EQ(channel.stats().duplicates, 2u);
}

// The capacity holds for plain sends too: a full channel refuses them.
TEST(channel, a_full_channel_refuses_plain_sends_until_something_is_settled) {
  fixture f;
  courier::channel<parcel> channel({.capacity = 2, .time_source = f.clock});
  EXPECT_TRUE(channel.try_send(parcel{1, "acme"}));
  EXPECT_TRUE(channel.try_send(parcel{2, "acme"}));
  EXPECT_FALSE(channel.try_send(parcel{3, "acme"}));
  EXPECT_EQ(channel.stats().waiting, 2u);
  auto got = channel.receive(1);
  ASSERT_EQ(got.size(), 1u);
  got[0].ack();
  EXPECT_TRUE(channel.try_send(parcel{3, "acme"}));
  EXPECT_FALSE(channel.try_send(parcel{4, "acme"}));
}

// Runs call on a thread and returns the courier::errc it failed with (or
// nothing if it returned), after the caller has done interrupt.
template <class Call, class Interrupt>
std::optional<courier::errc> error_after(Call call, Interrupt interrupt) {
  std::optional<courier::errc> code;
  std::atomic<bool> started{false};
  std::thread blocked([&] {
    started = true;
    try {
      call();
    } catch (const courier::error& failure) {
      code = static_cast<courier::errc>(failure.code().value());
    }
  });
  while (!started) std::this_thread::yield();
  std::this_thread::sleep_for(20ms);  // real time is the thing under test: let it block
  interrupt();
  blocked.join();
  return code;
}

TEST(channel, close_wakes_a_blocked_receiver_with_an_error) {
  fixture f;
  courier::channel<parcel> channel(f.options());
  const auto code = error_after([&] { channel.receive(1, 60s); }, [&] { channel.close(); });
  EXPECT_EQ(code, courier::errc::channel_closed);
  EXPECT_TRUE(channel.closed());
  EXPECT_EQ(error_of([&] { channel.send(parcel{1, "acme"}); }), courier::errc::channel_closed);
  EXPECT_EQ(error_of([&] { channel.try_send(parcel{1, "acme"}); }), courier::errc::channel_closed);
  channel.close();  // closing twice is harmless
}

TEST(channel, after_close_a_send_of_a_key_already_in_the_window_is_refused_too) {
  fixture f;
  courier::channel<parcel> channel(f.options());
  channel.send(parcel{1, "acme"}, {.idempotency_key = "k"});
  channel.close();
  EXPECT_EQ(error_of([&] {
              channel.send(parcel{1, "acme"}, {.idempotency_key = "k"});
            }),
            courier::errc::channel_closed);
  EXPECT_EQ(error_of([&] {
              channel.send(parcel{1, "acme"}, {.idempotency_key = "k", .track_delivery = true});
            }),
            courier::errc::channel_closed);
}

TEST(channel, close_wakes_a_sender_blocked_on_a_full_channel) {
  fixture f;
  auto options = f.options();
  options.capacity = 1;
  options.send_timeout = 60s;
  courier::channel<parcel> channel(options);
  channel.send(parcel{1, "acme"});
  const auto code = error_after([&] { channel.send(parcel{2, "acme"}); }, [&] { channel.close(); });
  EXPECT_EQ(code, courier::errc::channel_closed);
  EXPECT_EQ(channel.stats().accepted, 1U);  // the blocked message was refused, not queued
}

TEST(channel, after_close_a_held_delivery_can_still_be_acked_and_the_rest_is_abandoned) {
  fixture f;
  courier::channel<parcel> channel(f.options());
  const auto held = channel.send(parcel{1, "acme"}, {.track_delivery = true});
  const auto waiting = channel.send(parcel{2, "acme"}, {.track_delivery = true});
  auto got = channel.receive(1);
  ASSERT_EQ(got.size(), 1U);
  channel.close();
  EXPECT_EQ(waiting.receipt.peek(), courier::delivery_outcome::abandoned);
  EXPECT_FALSE(held.receipt.peek().has_value());  // its consumer may still finish it
  EXPECT_EQ(channel.ack(got[0].receipt()), courier::ack_result::acked);
  EXPECT_EQ(held.receipt.peek(), courier::delivery_outcome::acked);
}

TEST(channel, destruction_wakes_a_blocked_receiver_with_an_error) {
  fixture f;
  auto owned = std::make_unique<courier::channel<parcel>>(f.options());
  // The receiver holds the channel, not the owning pointer the test resets.
  courier::channel<parcel>* channel = owned.get();
  const auto code = error_after([channel] { channel->receive(1, 60s); }, [&] { owned.reset(); });
  EXPECT_EQ(code, courier::errc::channel_closed);
}

TEST(channel, consume_acks_on_return_and_nacks_on_exception) {
  courier::channel<parcel> channel({.visibility_timeout = 30s});
  std::mutex mutex;
  std::vector<std::pair<int, std::uint32_t>> seen;  // number, receive count
  std::vector<std::string> errors;
  {
    auto running = channel.consume(
        [&](courier::delivery<parcel>& d) {
          {
            std::lock_guard lock(mutex);
            seen.emplace_back(d.message().number, d.receive_count());
          }
          if (d.message().number == 2 && d.receive_count() == 1) throw std::runtime_error("flaky");
        },
        {.concurrency = 2, .poll = 10ms},
        [&](courier::message_id, std::exception_ptr failure) {
          std::lock_guard lock(mutex);
          try {
            std::rethrow_exception(failure);
          } catch (const std::exception& e) {
            errors.push_back(e.what());
          }
        });
    std::vector<courier::delivery_receipt> receipts;
    for (int n = 1; n <= 3; ++n)
      receipts.push_back(channel.send(parcel{n, "acme"}, {.track_delivery = true}).receipt);
    for (const auto& receipt : receipts) EXPECT_EQ(receipt.wait_for(10s), courier::delivery_outcome::acked);
  }
  EXPECT_THAT(errors, ElementsAre("flaky"));
  std::set<std::pair<int, std::uint32_t>> unique(seen.begin(), seen.end());
  EXPECT_EQ(unique, (std::set<std::pair<int, std::uint32_t>>{{1, 1}, {2, 1}, {2, 2}, {3, 1}}));
  EXPECT_EQ(channel.stats().waiting, 0U);
}

TEST(channel, a_consumer_handler_may_settle_explicitly) {
  courier::channel<parcel> channel;
  std::atomic<int> calls{0};
  {
    auto running = channel.consume(
        [&](courier::delivery<parcel>& d) {
          if (calls.fetch_add(1) == 0) {
            d.nack();  // explicitly: no exception, no ack after return
          }
        },
        {.poll = 10ms});
    const auto sent = channel.send(parcel{1, "acme"}, {.track_delivery = true});
    EXPECT_EQ(sent.receipt.wait_for(10s), courier::delivery_outcome::acked);
  }
  EXPECT_EQ(calls.load(), 2);
}

TEST(channel, without_acknowledgements_a_message_is_done_once_received) {
  fixture f;
  auto options = f.options(courier::ordering::fifo);
  options.acknowledge = false;
  courier::channel<parcel> channel(options);
  const auto sent = channel.send(parcel{1, "acme"}, {.group = "g", .track_delivery = true});
  channel.send(parcel{2, "acme"}, {.group = "g"});
  auto got = channel.receive(10);
  ASSERT_THAT(numbers(got), ElementsAre(1, 2));  // 1 was done at once, so its group moved on
  EXPECT_EQ(sent.receipt.peek(), courier::delivery_outcome::acked);
  EXPECT_EQ(got[0].ack(), courier::ack_result::already_acked);
  f.clock->advance(1h);
  EXPECT_TRUE(channel.receive(10).empty());  // never redelivered
  EXPECT_EQ(channel.stats().waiting, 0U);
}

TEST(channel, options_that_cannot_work_are_refused) {
  EXPECT_EQ(error_of([] { courier::channel<parcel> c({.visibility_timeout = 0ms}); }),
            courier::errc::invalid_option);
  EXPECT_EQ(error_of([] { courier::channel<parcel> c({.capacity = 0}); }), courier::errc::invalid_option);
}

}  // namespace
