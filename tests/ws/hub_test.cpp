// The hub alone: connections are fakes that record what they are told, so
// sessions, resumes and fan-out are checked without a socket. Connections
// name sessions by session_ref only, which is what lets the sessions live
// elsewhere later.
#include "hub.hpp"

#include "courier/ws/error_codes.hpp"

#include <gtest/gtest.h>

#include <array>
#include <boost/json.hpp>

#include <chrono>
#include <memory>
#include <string>
#include <vector>

namespace {

// The hub's snapshot without the per-session buckets.
constexpr std::array<std::size_t, 0> no_bounds{};

using namespace courier::ws;
using namespace courier::ws::detail;
using namespace std::chrono_literals;

class recording_connection final : public connection {
 public:
  void deliver(std::vector<std::string> frames) override {
    for (auto& each : frames) sent.push_back(std::move(each));
  }
  void close_with(error_frame error) override { closed_with.push_back(error.code); }
  void drop() override {}
  void going_away() override {}

  // The ops of the frames sent, in order.
  std::vector<std::string> ops() const {
    std::vector<std::string> out;
    for (const auto& each : sent) out.push_back(boost::json::parse(each).at("op").as_string().c_str());
    return out;
  }
  boost::json::object frame(std::size_t index) const {
    return boost::json::parse(sent.at(index)).as_object();
  }

  std::vector<std::string> sent;
  std::vector<std::string> closed_with;
};

struct hub_bench {
  hub_bench() : core(options, "run", changed) {
    parcel = core.add_topic("parcel", {});
    core.seal();
  }
  session_ref hello(const std::shared_ptr<recording_connection>& to, hello_frame frame = {}) {
    return core.attach(to, frame, "");
  }

  server_options options;
  change_signal changed;
  hub core;
  std::size_t parcel = 0;
};

TEST(ws_hub, a_session_gets_what_its_topics_publish_and_an_ack_frees_it) {
  hub_bench b;
  auto client = std::make_shared<recording_connection>();
  const session_ref session = b.hello(client);
  ASSERT_TRUE(session);
  EXPECT_TRUE(b.core.subscribe(session, {.topics = {"parcel"}}, false).unknown.empty());
  b.core.fan_out(b.parcel, R"({"n":1})", nullptr);
  EXPECT_EQ(client->ops(), (std::vector<std::string>{"welcome", "event"}));
  EXPECT_EQ(b.core.unacked_by_session(no_bounds).unacked, 1u);
  b.core.ack(session, {.upto = 1});
  EXPECT_EQ(b.core.unacked_by_session(no_bounds).unacked, 0u);
}

TEST(ws_hub, a_resume_by_token_gets_the_same_session_and_what_it_had_not_acked) {
  hub_bench b;
  auto first = std::make_shared<recording_connection>();
  const session_ref session = b.hello(first);
  const std::string token = first->frame(0).at("resume").as_string().c_str();
  b.core.subscribe(session, {.topics = {"parcel"}}, false);
  b.core.detach(session, first.get());
  b.core.fan_out(b.parcel, R"({"n":1})", nullptr);  // queued for the absent client
  auto second = std::make_shared<recording_connection>();
  const session_ref resumed = b.hello(second, {.resume = token});
  EXPECT_EQ(resumed.id, session.id);
  EXPECT_TRUE(second->frame(0).at("resumed").as_bool());
  EXPECT_EQ(second->ops(), (std::vector<std::string>{"welcome", "event"}));
  // A token differing in its last character resumes nothing.
  std::string forged = token;
  forged.back() = forged.back() == 'A' ? 'B' : 'A';
  auto third = std::make_shared<recording_connection>();
  EXPECT_NE(b.hello(third, {.resume = forged}).id, session.id);
}

TEST(ws_hub, a_second_connection_takes_over_and_the_first_ones_late_detach_changes_nothing) {
  hub_bench b;
  auto first = std::make_shared<recording_connection>();
  const session_ref session = b.hello(first);
  const std::string token = first->frame(0).at("resume").as_string().c_str();
  auto second = std::make_shared<recording_connection>();
  b.hello(second, {.resume = token});
  ASSERT_EQ(first->closed_with.size(), 1u);
  EXPECT_EQ(first->closed_with[0], info(error_code::session_replaced).name);
  b.core.detach(session, first.get());  // the old connection ends after the takeover
  b.core.subscribe(session, {.topics = {"parcel"}}, false);
  b.core.fan_out(b.parcel, R"({"n":1})", nullptr);
  EXPECT_EQ(second->ops(), (std::vector<std::string>{"welcome", "event"})) << "still attached to the second";
}

TEST(ws_hub, a_session_that_ended_is_named_by_a_ref_that_reaches_nothing) {
  hub_bench b;
  b.options.session_ttl = 10ms;
  auto client = std::make_shared<recording_connection>();
  const session_ref session = b.hello(client);
  b.core.detach(session, client.get());
  b.core.sweep(std::chrono::steady_clock::now() + 1s);
  EXPECT_EQ(b.core.unacked_by_session(no_bounds).sessions, 0u);
  EXPECT_TRUE(b.core.subscribe(session, {.topics = {"parcel"}}, false).topics.empty());
  const auto outcome = b.core.ack(session, {.ids = {"x"}});
  EXPECT_TRUE(outcome.unknown_ids.empty());
  EXPECT_FALSE(outcome.unknown_seq);
}

}  // namespace
