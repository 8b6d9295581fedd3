// sender_receipts: one outcome per tracked message, the first; receipts of
// settled messages say dead_lettered only while that is remembered.
#include "courier/detail/channel/sender_receipts.hpp"

#include <gtest/gtest.h>

#include <chrono>

namespace {

using courier::clock;
using courier::delivery_outcome;
using courier::detail::delivery_tracking;
using courier::detail::sender_receipts;
using namespace std::chrono_literals;

const clock::time_point t0{};

TEST(sender_receipts, a_held_message_is_tracked_on_request_and_told_its_first_outcome_only) {
  std::unique_ptr<delivery_tracking> tracked;
  sender_receipts::resolve(tracked, delivery_outcome::acked);  // not tracked: nothing to tell
  const auto receipt = sender_receipts::of_held(tracked);
  ASSERT_TRUE(receipt.valid());
  EXPECT_FALSE(receipt.peek());
  const auto second = sender_receipts::of_held(tracked);  // a duplicate send shares it
  sender_receipts::resolve(tracked, delivery_outcome::timed_out);
  sender_receipts::resolve(tracked, delivery_outcome::acked);
  EXPECT_EQ(receipt.peek(), delivery_outcome::timed_out);
  EXPECT_EQ(second.peek(), delivery_outcome::timed_out);
}

TEST(sender_receipts, a_settled_message_reads_dead_lettered_while_remembered_and_acked_otherwise) {
  sender_receipts receipts(100ms);
  receipts.dead_lettered(5, t0);
  EXPECT_EQ(receipts.of_settled(5, t0 + 50ms).peek(), delivery_outcome::dead_lettered);
  EXPECT_EQ(receipts.of_settled(6, t0 + 50ms).peek(), delivery_outcome::acked);
  EXPECT_EQ(receipts.of_settled(5, t0 + 100ms).peek(), delivery_outcome::acked);
}

}  // namespace
