// courier::ws::server against hostile and careless clients, with
// docs/protocol.md as the contract: ids and groups of events, a client that
// stops reading, floods of control frames, frames over the size limit, a
// second hello, a client that resumes far behind, a silent client. Each of
// these found a defect once; each test failed before its fix.
#include "courier/ws/server.hpp"

#include "courier/testing/recorder.hpp"
#include "raw_peer.hpp"
#include "ws_test_support.hpp"

#include <fmt/format.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <boost/json.hpp>

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace {

using namespace std::chrono_literals;
using ::testing::HasSubstr;
using ::testing::Not;

using courier::ws::error_code;
using courier_ws_test::closes_with;
using courier_ws_test::error_code_of;
using courier_ws_test::parcel;
using courier_ws_test::pickup;
using courier_ws_test::raw_peer;
using courier_ws_test::resume_token_of;
using ws_server_hardening = courier_ws_test::server_fixture;

boost::json::object parsed(const std::string& frame) { return boost::json::parse(frame).as_object(); }

TEST_F(ws_server_hardening,
       an_event_published_while_handling_a_clients_publish_has_its_own_id_and_events_keep_their_group) {
  start();
  // The dashboard's shape: the application answers a pickup with a parcel,
  // published from inside the observer of the client's pickup.
  auto answer = bus_.subscribe<pickup>([&](const pickup& p) { bus_.publish(parcel{p.parcel, p.vendor}); });
  raw_peer peer(server_->port());
  peer.hello();
  peer.send(R"({"op":"subscribe","topics":["parcel","pickup"]})");
  ASSERT_THAT(peer.read_until("subscribed"), HasSubstr("pickup"));
  peer.send(
      R"({"op":"publish","ref":"p1","topic":"pickup","key":"k1","group":"acme","data":{"vendor":"acme","parcel":7}})");
  boost::json::object receipt, pickup_event, parcel_event;
  for (int frames = 0; frames < 3; ++frames) {
    const std::string text = peer.read();
    ASSERT_FALSE(text.empty()) << "expected a receipt and two events";
    auto frame = parsed(text);
    if (frame.at("op") == "receipt") receipt = frame;
    if (frame.at("op") == "event") (frame.at("topic") == "pickup" ? pickup_event : parcel_event) = frame;
  }
  ASSERT_FALSE(receipt.empty() || pickup_event.empty() || parcel_event.empty());
  EXPECT_EQ(pickup_event.at("id"), receipt.at("id")) << "the client's message keeps its receipt's id";
  EXPECT_NE(parcel_event.at("id"), pickup_event.at("id")) << "two messages, one id";
  EXPECT_EQ(pickup_event.if_contains("group") ? pickup_event.at("group") : nullptr, "acme");
  EXPECT_EQ(parcel_event.if_contains("group"), nullptr) << "the application's event has no group";
  // Acked by id, both are settled: nothing waits to come again on a resume.
  peer.send(fmt::format(R"({{"op":"ack","ids":[{},{}]}})", boost::json::serialize(pickup_event.at("id")),
                        boost::json::serialize(parcel_event.at("id"))));
  EXPECT_TRUE(server_->wait_for_stats([](const auto& now) { return now.unacked == 0; }, 5s))
      << server_->stats().unacked << " event(s) still unacked";
}

TEST(ws_server_observers, an_observer_that_throws_on_a_clients_publish_goes_to_the_buss_error_handler) {
  std::mutex mutex;
  std::condition_variable reported;
  std::vector<std::string> errors;
  courier::bus bus({.on_error = [&](const courier::async_error& e) {
    {
      std::lock_guard lock(mutex);
      errors.push_back(std::string(e.event_type) + ": " + e.what());
    }
    reported.notify_all();
  }});
  courier::ws::server server(bus);
  server.topic<pickup>("pickup", {.publish = true, .fifo = true});
  server.start();
  courier::testing::recorder<pickup> seen(bus);
  auto fails = bus.subscribe<pickup>(
      [](const pickup& p) {
        if (p.parcel != 3) throw std::runtime_error("the screen was busy");
      },
      {.priority = 1});  // runs after the others
  courier::ws::client client({.url = "ws://127.0.0.1:" + std::to_string(server.port()) + "/courier"});
  client.connect();
  ASSERT_TRUE(client.wait_connected(5s));
  client.publish("pickup", pickup{"acme", 1}, {.group = "acme"}).get();
  client.publish("pickup", pickup{"acme", 2}, {.group = "acme"}).get();
  {
    std::unique_lock lock(mutex);
    ASSERT_TRUE(reported.wait_for(lock, 5s, [&] { return errors.size() == 2; }));
  }
  EXPECT_THAT(errors.front(), HasSubstr("the screen was busy"));
  EXPECT_THAT(errors.front(), HasSubstr("pickup"));
  // A third, behind them in their group: a failed one put on the bus again
  // would come before it.
  client.publish("pickup", pickup{"acme", 3}, {.group = "acme"}).get();
  ASSERT_TRUE(seen.wait_for(3, 5s));
  std::vector<int> parcels;
  for (const auto& each : seen.events()) parcels.push_back(each.parcel);
  EXPECT_EQ(parcels, (std::vector<int>{1, 2, 3})) << "each once";
  client.close();
}

TEST_F(ws_server_hardening, a_client_that_stops_reading_is_closed_as_too_slow_and_its_session_kept) {
  start({.rate = 100'000, .max_send_buffer = 1024 * 1024});
  raw_peer peer(server_->port());
  ASSERT_THAT(peer.hello(), HasSubstr("welcome"));
  // Each ack of 4,096 ids never sent earns an error listing them all
  // (about 270 KB), and this peer never reads one: 200 of them are far more
  // than the kernel's socket buffers hold.
  std::string ack = R"({"op":"ack","ids":[)";
  for (int i = 0; i < 4096; ++i) ack += fmt::format(R"({}"{:064}")", i == 0 ? "" : ",", i);
  ack += "]}";
  int sent = 0;
  try {
    for (; sent < 200; ++sent) peer.send(ack);
  } catch (const std::exception&) {
    // The server let go of the connection while this peer was still sending.
  }
  EXPECT_TRUE(server_->wait_for_stats([](const auto& now) { return now.connections == 0; }, 10s))
      << "still connected after " << sent << " replies it never read";
  EXPECT_EQ(server_->stats().sessions, 1u) << "the session waits for a resume";
}

TEST_F(ws_server_hardening, a_flood_of_pings_is_cut_off_like_any_flood) {
  start({.rate = 50});
  raw_peer flood(server_->port());
  flood.hello();
  int pings = 0;
  try {
    for (; pings < 20'000; ++pings) flood.ping();
  } catch (const std::exception&) {
    // The server closed on us.
  }
  EXPECT_TRUE(closes_with(flood, error_code::rate_limited)) << "after " << pings << " pings";
}

TEST_F(ws_server_hardening, a_frame_over_max_frame_closes_as_too_large_also_when_fragments_add_up) {
  start({.max_frame = 4096});
  const std::string head = R"({"op":"publish","topic":"pickup","group":"g","data":")";
  {
    raw_peer whole(server_->port());
    whole.hello();
    whole.send(head + std::string(10'000, 'x') + R"("})");
    EXPECT_TRUE(closes_with(whole, error_code::too_large));
  }
  {
    raw_peer pieces(server_->port());
    pieces.hello();
    pieces.send_fragments(
        {head + std::string(2000, 'x'), std::string(2000, 'x'), std::string(2000, 'x') + R"("})"});
    EXPECT_TRUE(closes_with(pieces, error_code::too_large));
  }
  // A frame of exactly max_frame is fine.
  raw_peer fits(server_->port());
  fits.hello();
  const std::string tail = R"("})";
  fits.send(head + std::string(4096 - head.size() - tail.size(), 'x') + tail);
  EXPECT_EQ(error_code_of(fits.read_until(R"("op":"error")")), error_code::invalid_data)
      << "read whole, then decoded";
}

TEST_F(ws_server_hardening, a_second_hello_closes_the_connection_even_when_one_of_its_fields_is_bad) {
  start();
  raw_peer peer(server_->port());
  peer.hello();
  peer.send(R"({"op":"hello","client":""})");
  EXPECT_TRUE(closes_with(peer, error_code::unexpected_hello));
}

TEST_F(ws_server_hardening, a_client_that_resumes_far_behind_and_keeps_pace_catches_up_and_is_not_cut_off) {
  start();  // window 256, slow_after 1,024, max_queued 10,000
  std::string token;
  {
    raw_peer first(server_->port());
    token = resume_token_of(first.hello());
    first.send(R"({"op":"subscribe","topics":["parcel"]})");
    ASSERT_THAT(first.read_until("subscribed"), HasSubstr("parcel"));
  }
  ASSERT_TRUE(server_->wait_for_stats([](const auto& now) { return now.connections == 0; }, 5s));
  constexpr int behind = 5000;
  constexpr int more = 3000;
  for (int i = 0; i < behind; ++i) bus_.publish(parcel{i, "acme"});

  raw_peer back(server_->port());
  ASSERT_THAT(back.hello(R"(,"resume":")" + token + R"(")"), HasSubstr(R"("resumed":true)"));
  // A steady 2,000 events/s meanwhile, which this client keeps pace with.
  std::thread publisher([&] {
    const auto begin = std::chrono::steady_clock::now();
    for (int i = 0; i < more; ++i) {
      std::this_thread::sleep_until(begin + i * 500us);
      bus_.publish(parcel{behind + i, "acme"});
    }
  });
  int next = 0;
  std::string problem;
  while (next < behind + more && problem.empty()) {
    const std::string text = back.read(10s);
    if (text.empty()) {
      problem = "the connection closed or went silent";
      break;
    }
    const auto frame = parsed(text);
    if (frame.at("op") != "event") {
      problem = text;
      break;
    }
    const auto number = courier::json::decode<parcel>(boost::json::serialize(frame.at("data"))).number;
    if (number != next) problem = fmt::format("got parcel {} where {} was due", number, next);
    if (++next % 64 == 0) back.send(fmt::format(R"({{"op":"ack","upto":{}}})", frame.at("seq").as_int64()));
  }
  publisher.join();
  EXPECT_EQ(problem, "") << "after " << next << " events";
  EXPECT_EQ(next, behind + more);
}

TEST_F(ws_server_hardening, a_silent_client_is_dropped_two_heartbeats_after_it_was_last_heard_not_later) {
  start({.heartbeat = 1s});
  raw_peer silent(server_->port());
  ASSERT_THAT(silent.hello(), HasSubstr("welcome"));
  // It talks a little longer, so that it falls silent between two of the
  // server's heartbeat ticks (a check on each tick would drop it almost a
  // heartbeat late), then sends nothing and, not reading, answers no ping.
  std::this_thread::sleep_until(std::chrono::steady_clock::now() + 200ms);
  silent.send(R"({"op":"subscribe","topics":["parcel"]})");
  ASSERT_THAT(silent.read_until("subscribed"), HasSubstr("parcel"));
  const auto last_heard = std::chrono::steady_clock::now();
  ASSERT_TRUE(server_->wait_for_stats([](const auto& now) { return now.connections == 0; }, 6s));
  const auto silent_for = std::chrono::steady_clock::now() - last_heard;
  EXPECT_GE(silent_for, 1900ms);
  EXPECT_LT(silent_for, 2600ms) << "docs/protocol.md §6: dropped after twice the heartbeat";
}

}  // namespace
