// A WebSocket session's queue (docs/protocol.md §4-5): the window, acks by id
// and cumulative, what a reconnect sends again, the slow and overflow limits.
#include "session.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

namespace {

using courier::ws::ack_frame;
using courier::ws::detail::payload;
using courier::ws::detail::session;

courier::ws::server_limits limits(std::uint64_t window, std::uint64_t slow_after = 100,
                                  std::uint64_t max_queued = 1000) {
  courier::ws::server_limits out;
  out.window = window;
  out.slow_after = slow_after;
  out.max_queued = max_queued;
  return out;
}

std::shared_ptr<const payload> event(int n) {
  return std::make_shared<payload>(payload{"e." + std::to_string(n), "t", std::nullopt, std::to_string(n)});
}

// The (seq, attempt) of each frame.
std::vector<std::pair<std::uint64_t, std::uint64_t>> sent(const std::vector<std::string>& frames) {
  std::vector<std::pair<std::uint64_t, std::uint64_t>> out;
  for (const auto& text : frames) {
    const auto decoded = courier::ws::decode_server_frame(text);
    const auto& frame = std::get<courier::ws::event_frame>(std::get<courier::ws::server_frame>(decoded));
    out.emplace_back(frame.seq, frame.attempt);
  }
  return out;
}

using ::testing::ElementsAre;
using ::testing::Pair;

TEST(ws_session, the_window_bounds_what_is_in_flight) {
  session s("s", "tok", "", limits(2));
  for (int i = 1; i <= 5; ++i) ASSERT_TRUE(s.enqueue(event(i)));
  EXPECT_THAT(sent(s.take_sendable()), ElementsAre(Pair(1, 1), Pair(2, 1)));
  EXPECT_TRUE(s.take_sendable().empty()) << "window full";
  s.ack(ack_frame{.ids = {"e.1"}});
  EXPECT_THAT(sent(s.take_sendable()), ElementsAre(Pair(3, 1)));
  s.ack(ack_frame{.upto = 3});
  EXPECT_EQ(s.acked_through(), 3u);
  EXPECT_THAT(sent(s.take_sendable()), ElementsAre(Pair(4, 1), Pair(5, 1)));
}

TEST(ws_session, acks_are_idempotent_and_unknown_ones_are_reported) {
  session s("s", "tok", "", limits(10));
  s.enqueue(event(1));
  s.enqueue(event(2));
  s.take_sendable();
  auto first = s.ack(ack_frame{.ids = {"e.1", "nope"}});
  EXPECT_THAT(first.unknown_ids, ElementsAre("nope"));
  auto again = s.ack(ack_frame{.ids = {"e.1"}});
  EXPECT_TRUE(again.unknown_ids.empty()) << "a retried ack is not unknown";
  EXPECT_TRUE(s.ack(ack_frame{.upto = 9}).unknown_seq) << "upto above what was sent";
  EXPECT_EQ(s.acked_through(), 1u) << "and it acked nothing";
  s.enqueue(event(3));
  EXPECT_THAT(s.ack(ack_frame{.ids = {"e.3"}}).unknown_ids, ElementsAre("e.3")) << "queued, never sent";
}

TEST(ws_session, after_a_disconnect_unacked_events_go_again_in_order_then_new_ones) {
  session s("s", "tok", "", limits(3));
  for (int i = 1; i <= 4; ++i) s.enqueue(event(i));
  s.take_sendable();                 // 1, 2, 3 in flight
  s.ack(ack_frame{.ids = {"e.2"}});  // out of order
  s.detach();                        // connection lost
  s.enqueue(event(5));
  s.ack_upto(1);  // the resuming hello said: processed through 1
  EXPECT_THAT(sent(s.take_sendable()), ElementsAre(Pair(3, 2), Pair(4, 1), Pair(5, 1)));
}

TEST(ws_session, a_client_that_stops_acking_becomes_slow_then_overflows) {
  session s("s", "tok", "", limits(2, 3, 6));
  for (int i = 1; i <= 5; ++i) ASSERT_TRUE(s.enqueue(event(i)));
  s.take_sendable();
  EXPECT_FALSE(s.slow()) << "3 waiting is not more than slow_after";
  ASSERT_TRUE(s.enqueue(event(6)));
  EXPECT_TRUE(s.slow());
  EXPECT_FALSE(s.enqueue(event(7))) << "max_queued reached";
}

TEST(ws_session, a_client_that_resumes_far_behind_is_judged_by_whether_it_keeps_pace_not_by_its_backlog) {
  session s("s", "tok", "", limits(4, 8, 1000));
  for (int i = 1; i <= 50; ++i) s.enqueue(event(i));  // published while it was away
  s.attach();
  std::uint64_t sent_through = 0;
  auto send = [&] {
    for (const auto& [seq, attempt] : sent(s.take_sendable())) sent_through = seq;
  };
  send();
  EXPECT_FALSE(s.slow()) << "46 waiting behind a full window, but that is where it started";
  int next = 51;
  for (int round = 0; round < 20; ++round) {  // 2 new ones come; it acks 4
    s.enqueue(event(next++));
    s.enqueue(event(next++));
    ASSERT_FALSE(s.slow()) << "round " << round << ": it gains on the publishers";
    s.ack(ack_frame{.upto = sent_through});
    send();
  }
  // Then it stops acking: once the backlog is more than slow_after above
  // its lowest point, it is slow.
  for (int i = 0; i < 8; ++i) s.enqueue(event(next++));
  EXPECT_FALSE(s.slow()) << "8 more than its lowest is not more than slow_after";
  s.enqueue(event(next++));
  EXPECT_TRUE(s.slow());
}

}  // namespace
