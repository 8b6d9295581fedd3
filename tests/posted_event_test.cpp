#include "courier/detail/posted_event.hpp"

#include <gtest/gtest.h>

#include <array>
#include <memory>
#include <string>
#include <vector>

namespace {

// Counts live instances so the test can prove nothing leaks or is destroyed twice.
struct counted {
  static inline int alive = 0;
  int value;
  explicit counted(int v) : value(v) { ++alive; }
  counted(const counted& other) : value(other.value) { ++alive; }
  counted(counted&& other) noexcept : value(other.value) { ++alive; }
  ~counted() { --alive; }
};

struct big_counted : counted {
  using counted::counted;
  std::array<char, 200> padding{};
};

struct sink {
  std::vector<int> seen;
  void publish(const counted& event) { seen.push_back(event.value); }
};

using posted = courier::detail::posted_event<sink>;

TEST(posted_event, a_default_one_is_a_marker) {
  posted marker;
  EXPECT_TRUE(marker.is_marker());
  EXPECT_TRUE(marker.type_name().empty());
}

template <class Event>
void moves_delivers_and_destroys_once() {
  sink target;
  {
    posted first(std::in_place_type<Event>, Event(5), 1);
    EXPECT_EQ(first.epoch(), 1);
    posted second(std::move(first));
    EXPECT_TRUE(first.is_marker());
    posted third;
    third = std::move(second);
    third.deliver(target);
    EXPECT_EQ(counted::alive, 1);
  }
  EXPECT_EQ(counted::alive, 0);
  EXPECT_EQ(target.seen, std::vector<int>{5});
}

TEST(posted_event, inline_events_move_deliver_and_die_once) { moves_delivers_and_destroys_once<counted>(); }

TEST(posted_event, heap_events_move_deliver_and_die_once) {
  static_assert(sizeof(big_counted) > posted::inline_size);
  moves_delivers_and_destroys_once<big_counted>();
}

}  // namespace
