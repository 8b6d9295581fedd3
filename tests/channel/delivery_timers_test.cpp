// delivery_timers: in-flight deadlines in order, leaving from anywhere, and
// the heap of rarer timers; time is passed in.
#include "courier/detail/channel/delivery_timers.hpp"

#include <gtest/gtest.h>

#include <chrono>

namespace {

using courier::clock;
using courier::detail::deadline_hook;
using courier::detail::timer;
using courier::detail::timer_kind;
using namespace std::chrono_literals;

struct delivery {
  explicit delivery(clock::time_point at) : visible_at(at) {}
  clock::time_point visible_at;
  deadline_hook in_flight_hook;
};

using timers = courier::detail::delivery_timers<delivery>;

const clock::time_point t0{};

TEST(delivery_timers, in_flight_deliveries_expire_in_deadline_order_and_only_once_due) {
  timers table;
  delivery first{t0 + 10ms}, second{t0 + 20ms};
  table.track_in_flight(first);
  table.track_in_flight(second);
  EXPECT_EQ(table.expired_in_flight(t0 + 9ms), nullptr);
  EXPECT_EQ(table.expired_in_flight(t0 + 10ms), &first);
  timers::untrack_in_flight(first);
  EXPECT_EQ(table.expired_in_flight(t0 + 15ms), nullptr);
  EXPECT_EQ(table.expired_in_flight(t0 + 25ms), &second);
}

TEST(delivery_timers, a_delivery_leaves_from_the_middle_and_leaving_twice_does_nothing) {
  timers table;
  delivery a{t0 + 1ms}, b{t0 + 2ms}, c{t0 + 3ms};
  table.track_in_flight(a);
  table.track_in_flight(b);
  table.track_in_flight(c);
  timers::untrack_in_flight(b);
  timers::untrack_in_flight(b);
  delivery never_tracked{t0};
  timers::untrack_in_flight(never_tracked);
  EXPECT_EQ(table.expired_in_flight(t0 + 5ms), &a);
  timers::untrack_in_flight(a);
  EXPECT_EQ(table.expired_in_flight(t0 + 5ms), &c);
  timers::untrack_in_flight(c);
  EXPECT_EQ(table.expired_in_flight(t0 + 5ms), nullptr);
  EXPECT_FALSE(table.next_due());
}

TEST(delivery_timers, timers_come_due_earliest_first_and_not_before_their_time) {
  timers table;
  table.schedule({t0 + 30ms, 1, 0, timer_kind::visible});
  table.schedule({t0 + 10ms, 2, 5, timer_kind::visibility});
  table.schedule({t0 + 20ms, 3, 0, timer_kind::receipt_deadline});
  EXPECT_FALSE(table.pop_due(t0 + 9ms));
  const auto first = table.pop_due(t0 + 25ms);
  ASSERT_TRUE(first);
  EXPECT_EQ(first->id, 2u);
  EXPECT_EQ(first->delivery, 5u);
  EXPECT_EQ(first->kind, timer_kind::visibility);
  EXPECT_EQ(table.pop_due(t0 + 25ms)->id, 3u);
  EXPECT_FALSE(table.pop_due(t0 + 25ms));
  EXPECT_EQ(table.next_due(), t0 + 30ms);
}

TEST(delivery_timers, next_due_is_the_earlier_of_the_first_deadline_and_the_first_timer) {
  timers table;
  EXPECT_FALSE(table.next_due());
  delivery flying{t0 + 50ms};
  table.track_in_flight(flying);
  EXPECT_EQ(table.next_due(), t0 + 50ms);
  table.schedule({t0 + 40ms, 1, 0, timer_kind::visible});
  EXPECT_EQ(table.next_due(), t0 + 40ms);
  table.pop_due(t0 + 40ms);
  EXPECT_EQ(table.next_due(), t0 + 50ms);
}

}  // namespace
