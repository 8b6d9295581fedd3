#include "courier/testing/gtest.hpp"

#include "courier/bus.hpp"

#include <gtest/gtest-spi.h>
#include <gtest/gtest.h>

#include <chrono>

namespace {

using namespace std::chrono_literals;

struct status {
  int parcel;
  const char* what;
};

}  // namespace

template <>
struct fmt::formatter<status> : fmt::formatter<int> {
  auto format(const status& s, fmt::format_context& ctx) const {
    return fmt::format_to(ctx.out(), "{} {}", s.what, s.parcel);
  }
};

namespace {

auto is(const char* what, int parcel) {
  return [=](const status& s) { return s.parcel == parcel && std::string_view(s.what) == what; };
}

// One bus with a known history, shared by the tests below.
struct history {
  courier::bus_st bus;
  courier::testing::recorder<status> events{bus};
  history() {
    bus.publish(status{7, "picked up"});
    bus.publish(status{8, "picked up"});
    bus.publish(status{7, "delivered"});
    bus.publish(status{8, "delivered"});
    bus.publish(status{8, "delivered"});
  }
};

TEST(gtest_helpers, pass_when_the_history_matches) {
  history h;
  EXPECT_PUBLISHED(h.events, is("delivered", 7));
  EXPECT_PUBLISHED_ONCE(h.events, is("delivered", 7));
  EXPECT_NEVER_PUBLISHED(h.events, is("lost", 7));
  EXPECT_PUBLISHED_IN_ORDER(h.events, is("picked up", 7), is("picked up", 8), is("delivered", 8));
  EXPECT_WAIT(h.events.wait_for(5, 0ms));
}

TEST(gtest_helpers, fail_with_the_recorded_events_in_the_message) {
  history h;
  EXPECT_NONFATAL_FAILURE(EXPECT_PUBLISHED(h.events, is("lost", 9)), "#4 delivered 8");
  EXPECT_NONFATAL_FAILURE(EXPECT_PUBLISHED_ONCE(h.events, is("delivered", 8)), "found 2 (at #3, #4)");
  EXPECT_NONFATAL_FAILURE(EXPECT_NEVER_PUBLISHED(h.events, is("picked up", 7)), "found 1 (at #0)");
  EXPECT_NONFATAL_FAILURE(EXPECT_PUBLISHED_IN_ORDER(h.events, is("delivered", 7), is("picked up", 7)),
                          "matched the first 1");
  EXPECT_NONFATAL_FAILURE(EXPECT_WAIT(h.events.wait_for(6, 1ms)), "recorded 5");
}

}  // namespace
