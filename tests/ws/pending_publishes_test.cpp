// pending_publishes: refs number the publishes, answers and refusals reach
// the right future once, a limit bounds them, and fail_all answers the rest.
#include "pending_publishes.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <string>
#include <vector>

namespace {

using courier::ws::publish_frame;
using courier::ws::receipt_frame;
using courier::ws::detail::pending_publishes;
using namespace std::chrono_literals;

publish_frame to(std::string topic) { return publish_frame{.topic = std::move(topic)}; }

TEST(pending_publishes, each_publish_gets_its_own_ref_and_its_own_answer) {
  pending_publishes pending(10);
  std::promise<receipt_frame> first, second;
  auto first_answer = first.get_future();
  auto second_answer = second.get_future();
  EXPECT_EQ(pending.add(to("a"), std::move(first)).ref, "p1");
  EXPECT_EQ(pending.add(to("b"), std::move(second)).ref, "p2");
  pending.answer("p2", receipt_frame{.id = "e-2"});
  pending.answer("p2",
                 receipt_frame{.id = "again"});  // a resent publish answered twice: the second is ignored
  EXPECT_EQ(second_answer.get().id, "e-2");
  EXPECT_EQ(first_answer.wait_for(0s), std::future_status::timeout);
  pending.refuse("p1", "forbidden", "not open to publishing");
  try {
    first_answer.get();
    FAIL() << "no exception";
  } catch (const courier::error& e) {
    EXPECT_NE(std::string(e.what()).find("publish to a: forbidden"), std::string::npos);
  }
}

TEST(pending_publishes, refs_that_name_nothing_change_nothing) {
  pending_publishes pending(10);
  std::promise<receipt_frame> one;
  auto answer = one.get_future();
  pending.add(to("a"), std::move(one));
  for (const char* ref : {"", "p", "x1", "p99", "pnope", "p-1"}) pending.answer(ref, receipt_frame{});
  EXPECT_EQ(answer.wait_for(0s), std::future_status::timeout);
}

TEST(pending_publishes, the_limit_says_full_and_what_waits_is_resent_in_order) {
  pending_publishes pending(2);
  pending.add(to("a"), {});
  EXPECT_FALSE(pending.full());
  pending.add(to("b"), {});
  EXPECT_TRUE(pending.full());
  std::vector<std::string> resent;
  pending.for_each([&](const publish_frame& frame) { resent.push_back(frame.topic); });
  EXPECT_EQ(resent, (std::vector<std::string>{"a", "b"}));
}

TEST(pending_publishes, fail_all_answers_every_waiting_publish_with_channel_closed) {
  pending_publishes pending(10);
  std::promise<receipt_frame> one;
  auto answer = one.get_future();
  pending.add(to("a"), std::move(one));
  pending.fail_all("the client closed");
  try {
    answer.get();
    FAIL() << "no exception";
  } catch (const courier::error& e) {
    EXPECT_EQ(e.code(), courier::make_error_code(courier::errc::channel_closed));
  }
  EXPECT_FALSE(pending.full());
}

}  // namespace
