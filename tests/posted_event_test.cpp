#include "courier/detail/posted_event.hpp"

#include <gtest/gtest.h>

#include <array>
#include <memory>
#include <string>
#include <string_view>
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

struct no_errors final : courier::detail::batch_error_sink {
  void report(std::string_view, std::exception_ptr) noexcept override {
    ADD_FAILURE() << "no error expected";
  }
};

// Stands in for the bus: records the runs it is handed.
struct sink {
  std::vector<int> seen;
  std::vector<std::size_t> run_sizes;
  template <class Event>
  void deliver_run(const courier::detail::event_run<Event>& run, courier::detail::batch_error_sink&) {
    run_sizes.push_back(run.count);
    for (std::size_t i = 0; i < run.count; ++i) seen.push_back(run[i].value);
  }
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
    no_errors errors;
    third.deliver_run(target, 1, errors);
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

TEST(posted_event, a_run_of_one_type_reaches_the_target_in_one_call) {
  sink target;
  std::array<posted, 3> items{posted(std::in_place_type<counted>, counted(1), 0),
                              posted(std::in_place_type<counted>, counted(2), 0),
                              posted(std::in_place_type<big_counted>, big_counted(3), 0)};
  EXPECT_TRUE(items[0].same_type(items[1]));
  EXPECT_FALSE(items[1].same_type(items[2]));
  EXPECT_FALSE(items[0].same_type(posted()));
  no_errors errors;
  items[0].deliver_run(target, 2, errors);
  items[2].deliver_run(target, 1, errors);
  EXPECT_EQ(target.seen, (std::vector<int>{1, 2, 3}));
  EXPECT_EQ(target.run_sizes, (std::vector<std::size_t>{2, 1}));
}

}  // namespace
