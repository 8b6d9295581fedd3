// send_intake alone: the numbers it hands out follow the order the engine
// receives messages in, the capacity counts what is queued, a close refuses
// later pushes, and a push that finds a receiver waiting says so.
#include "courier/detail/channel/send_intake.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace {

using courier::detail::message_numbers;

struct note {
  std::string text;
};

using intake = courier::detail::send_intake<note>;

const std::atomic<int> nobody_waits{0};

std::vector<std::string> texts(const std::vector<intake::queued>& taken) {
  std::vector<std::string> out;
  for (const auto& item : taken) out.push_back(item.message.text);
  return out;
}

intake::pushed push(intake& queue, std::string text, message_numbers* numbers = nullptr,
                    const std::atomic<int>& waiting = nobody_waits) {
  message_numbers ignored;
  return queue.push(note{std::move(text)}, {}, waiting, numbers != nullptr ? *numbers : ignored);
}

TEST(send_intake, pushes_come_out_in_order_numbered_and_a_later_admit_is_numbered_after_them) {
  intake queue(100);
  message_numbers a, b;
  EXPECT_EQ(push(queue, "a", &a), intake::pushed::queued);
  EXPECT_EQ(push(queue, "b", &b), intake::pushed::queued);
  EXPECT_EQ(a.id, 1u);
  EXPECT_EQ(b.id, 2u);
  EXPECT_EQ(b.sequence, a.sequence + 1);

  std::vector<intake::queued> taken;
  queue.take(taken, 0);
  ASSERT_EQ(texts(taken), (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(taken[0].numbers.id, 1u) << "the numbers travel with the message";
  EXPECT_EQ(taken[1].numbers.sequence, b.sequence);

  // A push after the take, then the channel's own admit: the push is handed
  // over first, and the admitted message is numbered after it.
  taken.clear();
  EXPECT_EQ(push(queue, "c"), intake::pushed::queued);
  const auto own = queue.admit(taken, 2, /*check_room=*/true);
  ASSERT_TRUE(own);
  EXPECT_EQ(texts(taken), (std::vector<std::string>{"c"}));
  EXPECT_EQ(own->id, 4u);
  EXPECT_GT(own->sequence, taken[0].numbers.sequence);
}

TEST(send_intake, a_full_channel_refuses_pushes_and_checked_admits_but_not_unchecked_ones) {
  intake queue(3);
  EXPECT_EQ(push(queue, "a"), intake::pushed::queued);
  EXPECT_EQ(push(queue, "b"), intake::pushed::queued);
  std::vector<intake::queued> taken;
  // The engine holds one message besides: a + b + 1 = 3, full.
  EXPECT_FALSE(queue.admit(taken, 1, /*check_room=*/true));
  EXPECT_EQ(taken.size(), 2u) << "what was queued is handed over even when the admit is refused";
  EXPECT_EQ(push(queue, "c"), intake::pushed::refused);
  EXPECT_TRUE(queue.admit(taken, 1, /*check_room=*/false)) << "a dead letter never waits";

  // Messages settled: the next take recounts from the engine.
  taken.clear();
  queue.take(taken, 0);
  EXPECT_EQ(push(queue, "d"), intake::pushed::queued);
}

TEST(send_intake, after_a_closing_take_every_push_is_refused) {
  intake queue(100);
  EXPECT_EQ(push(queue, "before"), intake::pushed::queued);
  std::vector<intake::queued> taken;
  queue.take(taken, 0, /*close=*/true);
  EXPECT_EQ(texts(taken), (std::vector<std::string>{"before"}));
  EXPECT_EQ(push(queue, "after"), intake::pushed::refused);
  EXPECT_TRUE(queue.is_empty());
}

TEST(send_intake, a_push_that_finds_a_receiver_waiting_says_so_and_moves_the_signal) {
  intake queue(100);
  const std::atomic<int> one_waits{1};
  const auto before = queue.pushes();
  EXPECT_EQ(push(queue, "a", nullptr, one_waits), intake::pushed::queued_wake);
  EXPECT_NE(queue.pushes(), before);
  EXPECT_FALSE(queue.is_empty());
}

TEST(send_intake, what_the_engine_could_not_take_goes_back_in_front) {
  intake queue(100);
  push(queue, "a");
  push(queue, "b");
  std::vector<intake::queued> taken;
  queue.take(taken, 0);
  push(queue, "c");
  taken.erase(taken.begin());  // "a" made it into the engine, "b" did not
  queue.put_back(taken);
  EXPECT_TRUE(taken.empty());
  queue.take(taken, 1);
  EXPECT_EQ(texts(taken), (std::vector<std::string>{"b", "c"}));
}

}  // namespace
