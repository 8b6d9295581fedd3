// send_intake alone: the numbers it hands out follow the order the engine
// receives messages in, the capacity counts what is queued, a close refuses
// later pushes, a push that finds a receiver waiting says so, and the
// extras kept apart stay with their own sends.
#include "courier/detail/channel/send_intake.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace {

using courier::detail::message_numbers;

struct note {
  std::string text;
};

// What a few sends carry besides (in a channel: a group, a trace).
struct label {
  std::string text;
  bool empty() const noexcept { return text.empty(); }
};

using intake = courier::detail::send_intake<note, label>;

const std::atomic<int> nobody_waits{0};

std::vector<std::string> texts(const intake::batch& taken) {
  std::vector<std::string> out;
  for (const auto& item : taken.items) out.push_back(item.message.text);
  return out;
}

// Each send's text with its label, "text" or "text:label".
std::vector<std::string> labelled(intake::batch& taken) {
  std::vector<std::string> out;
  label none;
  for (const auto& item : taken.items) {
    const label& extras = taken.extras_of(item, none);
    out.push_back(item.message.text + (extras.empty() ? "" : ":" + extras.text));
  }
  return out;
}

intake::pushed push(intake& queue, std::string text, message_numbers* numbers = nullptr,
                    const std::atomic<int>& waiting = nobody_waits, std::string extras = {}) {
  message_numbers ignored;
  return queue.push(note{std::move(text)}, label{std::move(extras)}, {}, waiting,
                    numbers != nullptr ? *numbers : ignored);
}

TEST(send_intake, pushes_come_out_in_order_numbered_and_a_later_admit_is_numbered_after_them) {
  intake queue(100);
  message_numbers a, b;
  EXPECT_EQ(push(queue, "a", &a), intake::pushed::queued);
  EXPECT_EQ(push(queue, "b", &b), intake::pushed::queued);
  EXPECT_EQ(a.id, 1u);
  EXPECT_EQ(b.id, 2u);
  EXPECT_EQ(b.sequence, a.sequence + 1);

  intake::batch taken;
  queue.take(taken, 0);
  ASSERT_EQ(texts(taken), (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(taken.items[0].numbers.id, 1u) << "the numbers travel with the message";
  EXPECT_EQ(taken.items[1].numbers.sequence, b.sequence);

  // A push after the take, then the channel's own admit: the push is handed
  // over first, and the admitted message is numbered after it.
  taken.clear();
  EXPECT_EQ(push(queue, "c"), intake::pushed::queued);
  const auto own = queue.admit(taken, 2, /*check_room=*/true);
  ASSERT_TRUE(own);
  EXPECT_EQ(texts(taken), (std::vector<std::string>{"c"}));
  EXPECT_EQ(own->id, 4u);
  EXPECT_GT(own->sequence, taken.items[0].numbers.sequence);
}

TEST(send_intake, a_full_channel_refuses_pushes_and_checked_admits_but_not_unchecked_ones) {
  intake queue(3);
  EXPECT_EQ(push(queue, "a"), intake::pushed::queued);
  EXPECT_EQ(push(queue, "b"), intake::pushed::queued);
  intake::batch taken;
  // The engine holds one message besides: a + b + 1 = 3, full.
  EXPECT_FALSE(queue.admit(taken, 1, /*check_room=*/true));
  EXPECT_EQ(taken.items.size(), 2u) << "what was queued is handed over even when the admit is refused";
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
  intake::batch taken;
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
  intake::batch taken;
  queue.take(taken, 0);
  push(queue, "c");
  taken.items.erase(taken.items.begin());  // "a" made it into the engine, "b" did not
  queue.put_back(taken);
  EXPECT_TRUE(taken.items.empty());
  queue.take(taken, 1);
  EXPECT_EQ(texts(taken), (std::vector<std::string>{"b", "c"}));
}

TEST(send_intake, extras_stay_with_their_sends_when_batches_are_joined_and_put_back) {
  intake queue(100);
  push(queue, "a", nullptr, nobody_waits, "first");
  push(queue, "b");
  push(queue, "c", nullptr, nobody_waits, "third");
  intake::batch taken;
  queue.take(taken, 0);
  EXPECT_EQ(taken.extras.size(), 2u) << "a send without extras adds none";
  ASSERT_EQ(labelled(taken), (std::vector<std::string>{"a:first", "b", "c:third"}));

  // A take into a batch that still holds sends: the new ones are appended
  // and their extras renumbered after the batch's own.
  push(queue, "d", nullptr, nobody_waits, "fourth");
  push(queue, "e");
  queue.admit(taken, 0, /*check_room=*/false);
  EXPECT_EQ(labelled(taken), (std::vector<std::string>{"a:first", "b", "c:third", "d:fourth", "e"}));

  // "a" and "b" reached the engine; the rest goes back in front of a later
  // push, each with its own extras.
  taken.items.erase(taken.items.begin(), taken.items.begin() + 2);
  push(queue, "f", nullptr, nobody_waits, "sixth");
  queue.put_back(taken);
  EXPECT_TRUE(taken.items.empty());
  EXPECT_TRUE(taken.extras.empty());
  queue.take(taken, 0);
  EXPECT_EQ(labelled(taken), (std::vector<std::string>{"c:third", "d:fourth", "e", "f:sixth"}));
}

TEST(send_intake, a_take_up_to_max_leaves_the_rest_first_in_line) {
  intake queue(100);
  for (const char* text : {"a", "b", "c", "d", "e"}) push(queue, text);
  intake::batch taken;
  queue.take_up_to(taken, 2, 0);
  EXPECT_EQ(texts(taken), (std::vector<std::string>{"a", "b"})) << "no more than max";
  EXPECT_FALSE(queue.is_empty()) << "the rest is still queued";
  EXPECT_EQ(push(queue, "f"), intake::pushed::queued);

  taken.clear();
  queue.take_up_to(taken, 2, 0);
  EXPECT_EQ(texts(taken), (std::vector<std::string>{"c", "d"})) << "the rest comes before later pushes";
  taken.clear();
  queue.take_up_to(taken, 10, 0);
  EXPECT_EQ(texts(taken), (std::vector<std::string>{"e", "f"}));
  EXPECT_TRUE(queue.is_empty());
}

TEST(send_intake, what_a_take_up_to_leaves_counts_against_the_capacity) {
  intake queue(4);
  for (const char* text : {"a", "b", "c", "d"}) push(queue, text);
  intake::batch taken;
  queue.take_up_to(taken, 1, 0);
  // One taken (and handed out, say: the engine holds none); three queued,
  // and the one taken counts until the next take recounts: full.
  EXPECT_EQ(push(queue, "e"), intake::pushed::refused);
  taken.clear();
  queue.take_up_to(taken, 1, 0);
  EXPECT_EQ(push(queue, "e"), intake::pushed::queued) << "recounted: two queued, one taken";
}

TEST(send_intake, sends_taken_a_few_at_a_time_from_a_queue_that_never_empties_keep_order_and_extras) {
  // Pushes run ahead of takes for a long time: the front that take_up_to
  // leaves behind is dropped on the way, and nothing is lost or reordered.
  intake queue(1'000'000);
  intake::batch taken;
  std::vector<std::string> expected, got;
  int next = 0;
  for (int round = 0; round < 2'000; ++round) {
    for (int i = 0; i < 5; ++i, ++next) {
      const std::string text = std::to_string(next);
      const std::string extras = next % 3 == 0 ? "x" + text : "";
      push(queue, text, nullptr, nobody_waits, extras);
      expected.push_back(extras.empty() ? text : text + ":" + extras);
    }
    taken.clear();
    queue.take_up_to(taken, 4, 0);
    for (auto& one : labelled(taken)) got.push_back(std::move(one));
  }
  // The rest in one take, through a put_back of part of it first.
  taken.clear();
  queue.take_up_to(taken, 3, 0);
  queue.put_back(taken);
  taken.clear();
  queue.take(taken, 0);
  for (auto& one : labelled(taken)) got.push_back(std::move(one));
  EXPECT_TRUE(queue.is_empty());
  EXPECT_EQ(got, expected);
}

}  // namespace
