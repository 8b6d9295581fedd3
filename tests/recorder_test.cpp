#include "courier/testing/recorder.hpp"

#include "courier/bus.hpp"

#include <fmt/format.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <chrono>
#include <thread>
#include <vector>

namespace {

using namespace std::chrono_literals;

struct scanned {
  int parcel;
};

struct unprintable {
  int x;
};

std::vector<int> parcels(const std::vector<scanned>& events) {
  std::vector<int> out;
  for (const auto& e : events) out.push_back(e.parcel);
  return out;
}

}  // namespace

template <>
struct fmt::formatter<scanned> : fmt::formatter<int> {
  auto format(const scanned& s, fmt::format_context& ctx) const {
    return fmt::format_to(ctx.out(), "scanned{{parcel {}}}", s.parcel);
  }
};

namespace {

TEST(recorder, records_published_events_in_order_and_clears) {
  courier::bus bus;
  courier::testing::recorder<scanned> scans(bus);
  bus.publish(scanned{1});
  bus.publish(unprintable{0});  // another type: not recorded
  bus.publish(scanned{2});
  EXPECT_EQ(scans.count(), 2U);
  EXPECT_THAT(parcels(scans.events()), testing::ElementsAre(1, 2));
  scans.clear();
  EXPECT_EQ(scans.count(), 0U);
}

TEST(recorder, stops_recording_when_destroyed) {
  courier::bus bus;
  {
    courier::testing::recorder<scanned> scans(bus);
    bus.publish(scanned{1});
  }
  bus.publish(scanned{2});  // nobody left to record it, and no crash
  courier::testing::recorder<scanned> later(bus);
  EXPECT_EQ(later.count(), 0U);
}

TEST(recorder, wait_for_returns_once_events_posted_from_the_worker_arrive) {
  courier::bus bus;  // its worker thread runs posted events
  courier::testing::recorder<scanned> scans(bus);
  std::thread poster([&] {
    for (int i = 0; i < 100; ++i) bus.post(scanned{i});
  });
  const auto waited = scans.wait_for(100, 10s);
  poster.join();
  ASSERT_TRUE(waited) << waited.message();
  EXPECT_EQ(parcels(scans.events()).back(), 99);
}

TEST(recorder, wait_for_a_condition_over_the_sequence) {
  courier::bus bus;
  courier::testing::recorder<scanned> scans(bus);
  bus.post(scanned{7});
  bus.post(scanned{8});
  const auto waited = scans.wait_for(
      [](const std::vector<scanned>& seen) { return !seen.empty() && seen.back().parcel == 8; }, 10s);
  EXPECT_TRUE(waited) << waited.message();
  EXPECT_TRUE(scans.wait_for_event([](const scanned& s) { return s.parcel == 7; }, 10s));
}

TEST(recorder, a_timed_out_wait_says_what_it_saw) {
  courier::bus_st bus;
  courier::testing::recorder<scanned> scans(bus);
  bus.publish(scanned{5});
  const auto waited = scans.wait_for(2, 10ms);
  EXPECT_FALSE(waited);
  EXPECT_THAT(waited.message(), testing::HasSubstr("2 event(s)"));
  EXPECT_THAT(waited.message(), testing::HasSubstr("recorded 1"));
  EXPECT_THAT(waited.message(), testing::HasSubstr("scanned{parcel 5}"));  // printed through fmt
}

TEST(recorder, events_without_a_formatter_print_as_their_type_name) {
  courier::bus_st bus;
  courier::testing::recorder<unprintable> seen(bus);
  bus.publish(unprintable{1});
  const auto waited = seen.wait_for(2, 0ms);
  EXPECT_FALSE(waited);
  EXPECT_THAT(waited.message(), testing::HasSubstr("unprintable>"));
}

}  // namespace
