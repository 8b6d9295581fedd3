// channel_engine driven step by step: no threads, no clock but the one
// passed in, so each rule of the channel is checked at an exact time.
#include "courier/detail/channel/engine.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <string>
#include <vector>

namespace {

using courier::channel_options;
using courier::clock;
using courier::delivery_outcome;
using courier::message_id;
using courier::ordering;
using courier::receipt;
using courier::detail::receipt_verdict;
using namespace std::chrono_literals;

using engine = courier::detail::channel_engine<std::string>;

struct collected_dead_letters final : courier::detail::dead_letter_sink<std::string> {
  void take(courier::detail::dead_letter<std::string> letter, clock::time_point) override {
    letters.push_back(std::move(letter));
  }
  std::vector<courier::detail::dead_letter<std::string>> letters;
};

struct handed {
  std::string body;
  std::string group;
  std::uint32_t receive_count;
  receipt handle;
};

// One engine, a dead-letter sink and a time that only the test moves.
struct bench {
  explicit bench(channel_options<std::string> options)
      : options(std::move(options)), core(this->options, dead) {}

  engine::accepted send(std::string body, std::string group = "", std::string key = "") {
    return core.enqueue(
        core.prepare(std::move(body), {.group = std::move(group), .idempotency_key = std::move(key)}),
        core.advance(now));
  }
  std::vector<handed> receive(std::size_t max = 10) {
    std::vector<handed> out;
    core.hand_out(max, core.advance(now), [&](const engine::record& item, receipt handle) {
      out.push_back({*item.body, item.group, item.receive_count, handle});
    });
    return out;
  }
  receipt_verdict ack(const receipt& handle) {
    const auto at = core.advance(now);
    const auto found = core.check(handle, true, at);
    if (found.held != nullptr) core.ack(*found.held, handle.delivery, at);
    return found.check.verdict;
  }

  channel_options<std::string> options;
  collected_dead_letters dead;
  engine core;
  clock::time_point now{};
};

std::vector<std::string> bodies(const std::vector<handed>& batch) {
  std::vector<std::string> out;
  for (const auto& each : batch) out.push_back(each.body);
  return out;
}

TEST(channel_engine, a_fifo_group_is_held_while_its_head_is_in_flight_even_after_its_visibility_ran_out) {
  bench b({.ordering = ordering::fifo, .visibility_timeout = 100ms});
  b.send("a1", "a");
  b.send("a2", "a");
  b.send("b1", "b");
  const auto first = b.receive();
  EXPECT_EQ(bodies(first), (std::vector<std::string>{"a1", "b1"}));
  EXPECT_TRUE(b.receive().empty());  // a2 waits behind a1
  b.now += 100ms;                    // a1's and b1's visibility runs out: delivered again, a2 still waits
  const auto again = b.receive();
  EXPECT_EQ(bodies(again), (std::vector<std::string>{"a1", "b1"}));
  EXPECT_EQ(again[0].receive_count, 2u);
  EXPECT_EQ(b.ack(first[0].handle), receipt_verdict::delivered_again);
  EXPECT_EQ(b.ack(again[0].handle), receipt_verdict::open);
  EXPECT_EQ(bodies(b.receive()), (std::vector<std::string>{"a2"}));
}

TEST(channel_engine, an_ack_is_already_acked_the_second_time_and_stale_after_a_redelivery) {
  bench b({.visibility_timeout = 100ms});
  b.send("x");
  const auto first = b.receive();
  b.now += 150ms;
  const auto again = b.receive();
  ASSERT_EQ(again.size(), 1u);
  EXPECT_EQ(b.ack(again[0].handle), receipt_verdict::open);
  EXPECT_EQ(b.ack(again[0].handle), receipt_verdict::already_acked);
  EXPECT_EQ(b.ack(first[0].handle), receipt_verdict::settled);
  EXPECT_EQ(b.ack(receipt{message_id{99}, 1}), receipt_verdict::unknown);
}

TEST(channel_engine, past_max_receives_a_message_goes_to_the_sink_and_its_group_moves_on) {
  bench b({.ordering = ordering::fifo, .visibility_timeout = 10ms, .max_receives = 2});
  b.send("poison", "g");
  b.send("next", "g");
  b.receive();
  b.now += 10ms;
  b.receive();
  b.now += 10ms;  // the second delivery expires: max_receives reached
  EXPECT_EQ(bodies(b.receive()), (std::vector<std::string>{"next"}));
  ASSERT_EQ(b.dead.letters.size(), 1u);
  EXPECT_EQ(b.dead.letters[0].body, "poison");
  EXPECT_EQ(b.dead.letters[0].group, "g");
  EXPECT_EQ(b.dead.letters[0].sequence, 1u);
  EXPECT_EQ(b.core.stats(b.now).dead_lettered, 1u);
}

TEST(channel_engine, a_nack_delay_and_an_extend_move_the_next_delivery_to_exact_times) {
  bench b({.visibility_timeout = 100ms});
  b.send("x");
  auto held = b.receive();
  auto found = b.core.check(held[0].handle, false, b.core.advance(b.now));
  b.core.nack(*found.held, 30ms, b.now);
  b.now += 29ms;
  EXPECT_TRUE(b.receive().empty());
  b.now += 1ms;
  held = b.receive();
  ASSERT_EQ(held.size(), 1u);
  found = b.core.check(held[0].handle, false, b.core.advance(b.now));
  b.core.extend(*found.held, 500ms, b.now);
  b.now += 499ms;
  EXPECT_TRUE(b.receive().empty());
  EXPECT_EQ(b.core.next_due(), b.now + 1ms);
  b.now += 1ms;
  EXPECT_EQ(b.receive().size(), 1u);
}

TEST(channel_engine, a_key_seen_within_the_window_is_answered_with_the_first_send) {
  bench b({.dedup_window = 1s});
  const auto first = b.send("x", "", "order-1");
  const auto seen = b.core.duplicate(b.core.key_of("x", "order-1"), false, b.core.advance(b.now));
  ASSERT_TRUE(seen);
  EXPECT_TRUE(seen->result.duplicate);
  EXPECT_EQ(seen->result.id, first.result.id);
  b.now += 1s;
  EXPECT_FALSE(b.core.duplicate(b.core.key_of("x", "order-1"), false, b.core.advance(b.now)));
  EXPECT_EQ(b.core.stats(b.now).duplicates, 1u);
}

TEST(channel_engine, progress_counts_what_became_ready_and_what_left) {
  bench b({.visibility_timeout = 100ms});
  b.send("x");
  b.send("y");
  EXPECT_EQ(b.core.progress_so_far().readied, 2u);
  const auto held = b.receive();
  EXPECT_EQ(b.core.progress_so_far().settled, 0u);
  b.ack(held[0].handle);
  EXPECT_EQ(b.core.progress_so_far().settled, 1u);
  b.now += 100ms;
  b.core.advance(b.now);  // y's visibility ran out: ready again
  EXPECT_EQ(b.core.progress_so_far().readied, 3u);
}

// A message whose sender asked for a delivery receipt (with a deadline).
engine::new_message tracked(std::string body, std::chrono::milliseconds receipt_timeout = {}) {
  engine::new_message out(std::move(body), {}, {});
  out.track = true;
  out.receipt_timeout = receipt_timeout;
  return out;
}

TEST(channel_engine, without_acknowledgement_a_message_is_settled_as_it_is_handed_out) {
  bench b({.acknowledge = false});
  auto sent = tracked("x");
  const auto receipt = b.core.enqueue(std::move(sent), b.now).result.receipt;
  EXPECT_EQ(bodies(b.receive()), (std::vector<std::string>{"x"}));
  EXPECT_EQ(receipt.peek(), delivery_outcome::acked);
  EXPECT_EQ(b.core.stats(b.now).waiting, 0u);
}

TEST(channel_engine, closing_abandons_what_is_not_in_flight_and_a_receipt_deadline_times_out) {
  bench b({.visibility_timeout = 100ms});
  const auto flying = b.core.enqueue(tracked("flying"), b.now).result.receipt;
  b.receive();
  const auto waiting = b.core.enqueue(tracked("waiting"), b.now).result.receipt;
  const auto late = b.core.enqueue(tracked("late", 10ms), b.now).result.receipt;
  b.now += 10ms;
  b.core.advance(b.now);
  EXPECT_EQ(late.peek(), delivery_outcome::timed_out);
  b.core.close();
  EXPECT_EQ(waiting.peek(), delivery_outcome::abandoned);
  EXPECT_FALSE(flying.peek());  // its consumer may still ack it
}

TEST(channel_engine,
     a_released_delivery_is_first_in_line_with_its_receive_count_as_before_and_its_receipt_stale) {
  bench b({.ordering = ordering::fifo, .visibility_timeout = 100ms});
  b.send("a1", "a");
  b.send("a2", "a");
  b.send("b1", "b");
  const auto taken = b.receive(1);
  ASSERT_EQ(bodies(taken), std::vector<std::string>{"a1"});
  const auto at = b.core.advance(b.now);
  const auto found = b.core.check(taken[0].handle, true, at);
  ASSERT_NE(found.held, nullptr);
  b.core.release(*found.held, at);
  EXPECT_EQ(b.core.stats(b.now).in_flight, 0u);
  EXPECT_EQ(b.core.stats(b.now).deliveries, 0u) << "the hand-out is undone, not counted";
  EXPECT_NE(b.ack(taken[0].handle), receipt_verdict::open);
  const auto again = b.receive(3);
  ASSERT_EQ(bodies(again), (std::vector<std::string>{"a1", "b1"}))
      << "first in line, its group still ordered";
  EXPECT_EQ(again[0].receive_count, 1u);
}

}  // namespace
