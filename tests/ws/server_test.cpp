// courier::ws::server with real peers over loopback: the C++ client
// (subscribe, events, acks, publish and receipts, connections killed
// mid-stream, resume), and a raw Beast peer for every kind of bad input of
// docs/protocol.md §8, after which the server still serves everyone else.
#include "courier/ws/server.hpp"

#include "../promtool.hpp"
#include "courier/testing/recorder.hpp"
#include "courier/trace_scope.hpp"
#include "courier/ws/client.hpp"
#include "raw_peer.hpp"
#include "ws_test_support.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <boost/asio.hpp>

#include <atomic>
#include <chrono>
#include <future>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace {

using namespace std::chrono_literals;
namespace asio = boost::asio;
using ::testing::HasSubstr;

using courier::ws::error_code;
using courier_ws_test::closes_with;
using courier_ws_test::error_code_of;
using courier_ws_test::inbox;
using courier_ws_test::parcel;
using courier_ws_test::pickup;
using courier_ws_test::raw_peer;
using courier_ws_test::refused_status;

using ws_server = courier_ws_test::server_fixture;

TEST_F(ws_server, a_client_gets_every_event_of_its_topics_in_order_and_acks_them) {
  start();
  inbox got;
  auto client = courier_ws_test::subscribed_client({.url = url()}, got);
  ASSERT_TRUE(client);
  for (int i = 0; i < 100; ++i) bus_.publish(parcel{i, "acme"});
  ASSERT_TRUE(got.wait_for(100));
  std::vector<int> expected(100);
  for (int i = 0; i < 100; ++i) expected[static_cast<std::size_t>(i)] = i;
  EXPECT_EQ(got.numbers(), expected);
  EXPECT_EQ(got.events.front().topic, "parcel");
  EXPECT_EQ(got.events.back().seq, 100u);
}

TEST_F(ws_server, events_of_every_length_class_arrive_whole) {
  // The server frames text itself: lengths of 7 bits, 16 bits and 64 bits.
  start();
  inbox got;
  auto client = courier_ws_test::subscribed_client({.url = url()}, got);
  ASSERT_TRUE(client);
  const std::vector<std::size_t> sizes = {0, 60, 125, 126, 65'535, 65'536, 300'000};
  for (std::size_t i = 0; i < sizes.size(); ++i)
    bus_.publish(parcel{static_cast<int>(i), std::string(sizes[i], 'v')});
  ASSERT_TRUE(got.wait_for(sizes.size())) << client->stats().last_error;
  std::lock_guard lock(got.mutex);
  for (std::size_t i = 0; i < sizes.size(); ++i) {
    EXPECT_EQ(courier::json::decode<parcel>(got.events[i].data).vendor.size(), sizes[i]);
  }
}

TEST_F(ws_server, a_publish_gets_a_receipt_a_retry_is_a_duplicate_and_the_bus_sees_it_once) {
  start();
  courier::testing::recorder<pickup> on_bus(bus_);
  courier::ws::client client({.url = url()});
  client.connect();
  ASSERT_TRUE(client.wait_connected(5s));
  const auto first = client.publish("pickup", pickup{"acme", 7}, {.key = "acme/7", .group = "acme"}).get();
  EXPECT_FALSE(first.duplicate);
  const auto retry = client.publish("pickup", pickup{"acme", 7}, {.key = "acme/7", .group = "acme"}).get();
  EXPECT_TRUE(retry.duplicate);
  EXPECT_EQ(retry.id, first.id);
  // A later publish of the same group reaches the bus after anything the
  // retry could have put there (one group, in order).
  client.publish("pickup", pickup{"acme", 8}, {.key = "acme/8", .group = "acme"}).get();
  ASSERT_TRUE(on_bus.wait_for(2, 5s));
  std::vector<int> parcels;
  for (const auto& each : on_bus.events()) parcels.push_back(each.parcel);
  EXPECT_THAT(parcels, ::testing::ElementsAre(7, 8)) << "one event on the bus for two publishes of one key";
}

TEST_F(ws_server, a_publish_that_does_not_decode_is_refused_and_publishes_nothing) {
  start();
  courier::testing::recorder<pickup> on_bus(bus_);
  courier::ws::client client({.url = url()});
  client.connect();
  ASSERT_TRUE(client.wait_connected(5s));
  auto bad = client.publish("pickup", std::string(R"({"vendor":"acme"})"), {.group = "acme"});
  try {
    bad.get();
    ADD_FAILURE() << "accepted a pickup without a parcel";
  } catch (const courier::error& e) {
    EXPECT_THAT(e.what(), HasSubstr(std::string(courier::ws::info(error_code::invalid_data).name)));
  }
  auto no_group = client.publish("pickup", pickup{"acme", 1});
  EXPECT_THROW(no_group.get(), courier::error);
  auto not_open = client.publish("parcel", parcel{1, "acme"});
  EXPECT_THROW(not_open.get(), courier::error);
  // Replies come in order: a good publish after them is on the bus alone.
  client.publish("pickup", pickup{"acme", 2}, {.group = "acme"}).get();
  ASSERT_TRUE(on_bus.wait_for(1, 5s));
  ASSERT_EQ(on_bus.count(), 1u) << "a refused publish reached the bus";
  EXPECT_EQ(on_bus.events().front().parcel, 2);
}

TEST_F(ws_server, nothing_is_lost_or_doubled_when_connections_die_mid_stream) {
  start({.window = 16});
  inbox got;
  auto client = courier_ws_test::subscribed_client({.url = url(), .backoff_initial = 10ms}, got);
  ASSERT_TRUE(client);
  constexpr int count = 3000;
  // Kill connections from both ends while events flow.
  courier_ws_test::publish_while_killing(bus_, *server_, *client, got, count, 6);
  // One more, behind everything: a duplicate of an earlier event would
  // have been handed over before it.
  bus_.publish(parcel{count, "acme"});
  ASSERT_TRUE(got.wait_for(count + 1, 20s)) << "got " << got.numbers().size();
  const auto numbers = got.numbers();
  ASSERT_EQ(numbers.size(), static_cast<std::size_t>(count + 1)) << "duplicates handed to on_event";
  for (int i = 0; i <= count; ++i)
    ASSERT_EQ(numbers[static_cast<std::size_t>(i)], i) << "order broken at " << i;
  EXPECT_GE(client->stats().connections, 3u) << "the kills reconnected";
  EXPECT_GE(client->stats().resumed, 2u) << "and resumed the session";
}

TEST_F(ws_server, an_event_whose_handler_throws_comes_again_and_nothing_else_is_lost) {
  start();
  std::vector<int> handled;
  std::mutex mutex;
  std::condition_variable changed;
  bool thrown = false;
  courier::ws::client client({.url = url(), .backoff_initial = 10ms});
  client.on_event([&](const courier::ws::event_frame& e) {
    const int number = courier::json::decode<parcel>(e.data).number;
    std::lock_guard lock(mutex);
    if (number == 5 && !thrown) {
      thrown = true;
      throw std::runtime_error("the screen was busy");
    }
    handled.push_back(number);
    changed.notify_all();
  });
  client.subscribe({"parcel"});
  client.connect();
  ASSERT_TRUE(client.wait_subscribed(5s));
  for (int i = 0; i < 20; ++i) bus_.publish(parcel{i, "acme"});
  std::unique_lock lock(mutex);
  ASSERT_TRUE(changed.wait_for(lock, 10s, [&] { return handled.size() >= 20; })) << handled.size();
  std::vector<int> expected(20);
  for (int i = 0; i < 20; ++i) expected[static_cast<std::size_t>(i)] = i;
  EXPECT_EQ(handled, expected) << "5 came again after the throw, in its place";
  EXPECT_EQ(client.stats().handler_failures, 1u);
  EXPECT_THAT(client.stats().last_handler_failure, HasSubstr("the screen was busy"));
}

TEST_F(ws_server, every_kind_of_bad_input_gets_its_error_and_the_connection_goes_on) {
  start();
  raw_peer peer(server_->port());
  ASSERT_THAT(peer.hello(), HasSubstr(R"("resumed":false)"));
  struct expectation {
    std::string frame;
    error_code code;
  };
  const std::vector<expectation> cases = {
      {"this is not json", error_code::malformed_json},
      {"[1,2,3]", error_code::malformed_json},
      {R"({"op":"dance"})", error_code::unknown_op},
      {R"({"op":"subscribe"})", error_code::missing_field},
      {R"({"op":"subscribe","topics":"parcel"})", error_code::wrong_type},
      {R"({"op":"subscribe","topics":["nope"]})", error_code::unknown_topic},
      {R"({"op":"ack","ids":["never.sent"]})", error_code::unknown_id},
      {R"({"op":"ack","upto":99})", error_code::unknown_seq},
      {R"({"op":"publish","topic":"parcel","data":{"number":1,"vendor":"a"}})", error_code::forbidden},
      {R"({"op":"publish","topic":"pickup","group":"a","data":{"vendor":7}})", error_code::invalid_data},
      {R"({"op":"hello"})", error_code::unexpected_hello},
  };
  for (std::size_t i = 0; i + 1 < cases.size(); ++i) {
    peer.send(cases[i].frame);
    const std::string reply = peer.read_until(R"("op":"error")");
    EXPECT_EQ(error_code_of(reply), cases[i].code) << cases[i].frame;
    EXPECT_THAT(reply, HasSubstr(R"("fatal":false)")) << cases[i].frame;
  }
  // Still serving this connection:
  peer.send(R"({"op":"subscribe","topics":["parcel"],"ref":"s"})");
  EXPECT_THAT(peer.read_until("subscribed"), HasSubstr(R"("topics":["parcel"])"));
  // A second hello is fatal.
  peer.send(cases.back().frame);
  EXPECT_TRUE(closes_with(peer, error_code::unexpected_hello));
  EXPECT_GE(server_->stats().frames_refused, cases.size());
}

TEST_F(ws_server, fatal_input_closes_with_the_right_code) {
  start({.max_frame = 4096});
  {
    raw_peer first(server_->port());
    first.send(R"({"op":"subscribe","topics":["parcel"]})");
    EXPECT_TRUE(closes_with(first, error_code::not_hello_first));
  }
  {
    raw_peer binary(server_->port());
    binary.hello();
    binary.send_binary(std::string("\x00\x01\x02", 3));
    EXPECT_TRUE(closes_with(binary, error_code::binary_frame));
  }
  {
    raw_peer big(server_->port());
    big.hello();
    big.send(R"({"op":"publish","topic":"pickup","group":"g","data":")" + std::string(10'000, 'x') + R"("})");
    EXPECT_TRUE(closes_with(big, error_code::too_large));
  }
  // The server is fine: a new client gets through.
  courier::ws::client client({.url = url()});
  client.connect();
  EXPECT_TRUE(client.wait_connected(5s));
}

TEST_F(ws_server, a_peer_that_closes_in_the_middle_of_a_burst_is_let_go) {
  start({.window = 2000, .slow_after = 100'000, .max_queued = 100'000});
  raw_peer peer(server_->port());
  peer.send(R"({"op":"hello"})");
  ASSERT_THAT(peer.read(), HasSubstr("welcome"));
  peer.send(R"({"op":"subscribe","topics":["parcel"]})");
  ASSERT_THAT(peer.read(), HasSubstr("subscribed"));
  for (int round = 0; round < 3; ++round) {
    for (int i = 0; i < 2000; ++i) bus_.publish(parcel{i, "acme"});
    if (round == 1) peer.close();  // while the server works through its queue of frames
  }
  EXPECT_TRUE(server_->wait_for_stats([](const auto& now) { return now.connections == 0; }, 5s))
      << "the closed connection is still held";
  EXPECT_EQ(server_->stats().sessions, 1u) << "its session waits for a resume";
}

TEST_F(ws_server, a_flood_of_frames_is_cut_off) {
  start({.rate = 50});
  raw_peer flood(server_->port());
  flood.hello();
  for (int i = 0; i < 200; ++i) {
    try {
      flood.send(R"({"op":"ack","upto":0})");
    } catch (const std::exception&) {
      break;  // the server closed on us
    }
  }
  EXPECT_TRUE(closes_with(flood, error_code::rate_limited));
}

TEST_F(ws_server, the_upgrade_checks_path_subprotocol_origin_and_token) {
  start({.authorize = [](std::string_view token) { return token == "let-me-in"; },
         .allowed_origins = {"https://dash.example.com"}});
  EXPECT_EQ(refused_status(server_->port(), {.subprotocol = false}), -1);
  EXPECT_EQ(refused_status(server_->port(), {.path = "/elsewhere"}), -1);
  EXPECT_EQ(refused_status(server_->port(), {.origin = "https://evil.example.com"}), -1);
  EXPECT_EQ(refused_status(server_->port(), {.token = "wrong"}), -1);
  EXPECT_EQ(refused_status(server_->port(), {.origin = "https://DASH.example.com", .token = "let-me-in"}), 0);
  // A browser cannot set headers: its token comes in hello.
  raw_peer browser(server_->port(), {.origin = "https://dash.example.com"});
  EXPECT_THAT(browser.hello(R"(,"token":"let-me-in")"), HasSubstr("welcome"));
  raw_peer stranger(server_->port());
  stranger.send(R"({"op":"hello"})");
  EXPECT_TRUE(closes_with(stranger, error_code::unauthorized));
}

TEST_F(ws_server, a_subscribe_the_application_refuses_is_forbidden_and_changes_nothing) {
  std::atomic<int> asked{0};
  start({.authorize = [](std::string_view token) { return token == "alice" || token == "bob"; },
         .may_subscribe =
             [&](std::string_view identity, std::string_view topic) {
               ++asked;
               return identity == "alice" || topic != "parcel";
             }});
  raw_peer bob(server_->port(), {.token = "bob"});
  bob.send(R"({"op":"hello"})");
  ASSERT_THAT(bob.read(), HasSubstr("welcome"));
  bob.send(R"({"op":"subscribe","ref":"s1","topics":["pickup","parcel"]})");
  const std::string refused = bob.read();
  EXPECT_EQ(error_code_of(refused), error_code::forbidden);
  EXPECT_THAT(refused, HasSubstr(R"("topics":["parcel"])"));
  EXPECT_THAT(refused, HasSubstr(R"("fatal":false)"));
  bob.send(R"({"op":"subscribe","ref":"s2","topics":["pickup"]})");
  EXPECT_THAT(bob.read(), HasSubstr(R"("topics":["pickup"])")) << "the refused subscribe added nothing";

  raw_peer alice(server_->port(), {.token = "alice"});
  alice.send(R"({"op":"hello"})");
  ASSERT_THAT(alice.read(), HasSubstr("welcome"));
  alice.send(R"({"op":"subscribe","topics":["parcel"]})");
  EXPECT_THAT(alice.read(), HasSubstr(R"("op":"subscribed")"));
  bus_.publish(parcel{1, "acme"});
  EXPECT_THAT(alice.read(), HasSubstr(R"("op":"event")"));
  EXPECT_EQ(asked.load(), 4);
}

TEST_F(ws_server, a_client_that_never_says_hello_is_closed) {
  start({.hello_timeout = 200ms});
  raw_peer silent(server_->port());
  EXPECT_TRUE(closes_with(silent, error_code::hello_timeout, 3s));
}

TEST_F(ws_server, a_slow_consumer_is_disconnected_and_its_session_kept) {
  start({.window = 4, .slow_after = 8});
  std::string token;
  {
    raw_peer slow(server_->port());
    token = courier_ws_test::resume_token_of(slow.hello());
    slow.send(R"({"op":"subscribe","topics":["parcel"]})");
    slow.read_until("subscribed");
    for (int i = 0; i < 20; ++i) bus_.publish(parcel{i, "acme"});  // never acked
    EXPECT_TRUE(closes_with(slow, error_code::slow_consumer));
  }
  // It comes back and catches up: nothing was lost.
  raw_peer back(server_->port());
  EXPECT_THAT(back.hello(R"(,"resume":")" + token + R"(")"), HasSubstr(R"("resumed":true)"));
  EXPECT_THAT(back.read_until(R"("seq":1,)"), HasSubstr(R"("number":0)"));
}

TEST_F(ws_server, a_session_ends_after_its_ttl_and_a_second_connection_replaces_the_first) {
  start({.session_ttl = 300ms});
  raw_peer first(server_->port());
  const std::string token = courier_ws_test::resume_token_of(first.hello());
  raw_peer second(server_->port());
  EXPECT_THAT(second.hello(R"(,"resume":")" + token + R"(")"), HasSubstr(R"("resumed":true)"));
  EXPECT_TRUE(closes_with(first, error_code::session_replaced));
  second.send(R"({"op":"bye"})");  // unknown op: still connected, then let it go
  EXPECT_EQ(error_code_of(second.read_until(R"("op":"error")")), error_code::unknown_op);
  server_->drop_connections();
  ASSERT_TRUE(server_->wait_for_stats([](const auto& now) { return now.sessions == 0; }, 5s))
      << "the session outlived its ttl";
  raw_peer late(server_->port());
  EXPECT_THAT(late.hello(R"(,"resume":")" + token + R"(")"), HasSubstr(R"("resumed":false)"));
}

TEST_F(ws_server, connections_over_the_limit_are_told_to_come_back_later) {
  start({.max_connections = 1});
  raw_peer first(server_->port());
  first.hello();
  raw_peer second(server_->port());
  EXPECT_TRUE(closes_with(second, error_code::too_many_connections));
}

}  // namespace

namespace {

// The server on an io_context the application runs: its handlers run on the
// application's thread, and it can be stopped from outside io or from one of
// io's own handlers (the closes then finish on io after the server is gone).
TEST(ws_server_on_application_io, runs_on_the_applications_threads_and_stops_from_outside_or_inside) {
  asio::io_context io;
  auto work = asio::make_work_guard(io);
  std::promise<std::thread::id> runner_id;
  std::thread runner([&] {
    runner_id.set_value(std::this_thread::get_id());
    io.run();
  });
  const auto application_thread = runner_id.get_future().get();

  for (const bool stop_inside : {false, true}) {
    SCOPED_TRACE(stop_inside ? "destroyed in an io handler" : "destroyed from the test's thread");
    courier::bus bus;
    std::atomic<bool> checked_on_application_thread{false};
    std::atomic<bool> checked_elsewhere{false};
    auto server = std::make_unique<courier::ws::server>(
        bus, io, courier::ws::server_options{.authorize = [&](std::string_view token) {
          (std::this_thread::get_id() == application_thread ? checked_on_application_thread
                                                            : checked_elsewhere) = true;
          return token == "secret";
        }});
    server->topic<parcel>("parcel");
    server->start();

    inbox got;
    courier::ws::client client(
        {.url = "ws://127.0.0.1:" + std::to_string(server->port()) + "/courier", .token = "secret"});
    client.on_event(std::ref(got));
    client.subscribe({"parcel"});
    client.connect();
    ASSERT_TRUE(client.wait_subscribed(5s)) << client.stats().last_error;
    for (int i = 0; i < 50; ++i) bus.publish(parcel{i, "acme"});
    ASSERT_TRUE(got.wait_for(50));
    EXPECT_TRUE(checked_on_application_thread);
    EXPECT_FALSE(checked_elsewhere) << "a server thread of its own ran a handler";

    if (stop_inside) {
      std::promise<void> destroyed;
      asio::post(io, [&] {
        server.reset();  // must not wait for io, which is this thread
        destroyed.set_value();
      });
      ASSERT_EQ(destroyed.get_future().wait_for(5s), std::future_status::ready)
          << "stop() from io deadlocked";
    } else {
      server.reset();
    }
    // The client saw its connection close (going away) and cannot come back.
    EXPECT_TRUE(client.wait_disconnected(5s));
    EXPECT_FALSE(client.wait_connected(200ms));
    client.close();
  }
  // io itself goes on serving the application.
  std::promise<void> still_running;
  asio::post(io, [&] { still_running.set_value(); });
  EXPECT_EQ(still_running.get_future().wait_for(5s), std::future_status::ready);
  work.reset();
  runner.join();
}

}  // namespace

namespace {

// The sample of metric in a Prometheus exposition ("" when absent).
std::string sample_line(const std::string& exposition, const std::string& metric) {
  std::size_t at = 0;
  while ((at = exposition.find(metric, at)) != std::string::npos) {
    const bool line_start = at == 0 || exposition[at - 1] == '\n';
    const std::size_t end = exposition.find('\n', at);
    if (line_start && (exposition[at + metric.size()] == '{' || exposition[at + metric.size()] == ' '))
      return exposition.substr(at, end - at);
    at = end;
  }
  return "";
}

TEST_F(ws_server, get_metrics_serves_the_registrys_exposition_with_the_servers_figures) {
  auto registry = std::make_shared<courier::metrics_registry>();
  courier::channel<parcel> orders({.metrics = registry, .name = "orders"});
  orders.send(parcel{1, "acme"});
  start({.metrics = registry});
  inbox got;
  auto client = courier_ws_test::subscribed_client({.url = url()}, got);
  ASSERT_TRUE(client);
  for (int i = 0; i < 3; ++i) bus_.publish(parcel{i, "acme"});
  ASSERT_TRUE(got.wait_for(3));
  ASSERT_TRUE(server_->wait_for_stats([](const auto& stats) { return stats.unacked == 0; }, 5s));

  const auto reply = courier_ws_test::http_get(server_->port(), "/metrics");
  ASSERT_EQ(reply.status, 200) << reply.body;
  EXPECT_THAT(reply.content_type, HasSubstr("text/plain; version=0.0.4"));
  // The client's, and the scrape's own while it is answered.
  EXPECT_THAT(sample_line(reply.body, "courier_ws_connections"), ::testing::EndsWith(" 2"));
  EXPECT_THAT(sample_line(reply.body, "courier_ws_sessions"), ::testing::EndsWith(" 1"));
  EXPECT_THAT(sample_line(reply.body, "courier_ws_events_sent_total"), ::testing::EndsWith(" 3"));
  EXPECT_THAT(sample_line(reply.body, "courier_ws_unacked_events"), ::testing::EndsWith(" 0"));
  EXPECT_THAT(sample_line(reply.body, "courier_ws_connections"),
              HasSubstr("server_port=\"" + std::to_string(server_->port()) + "\""));
  EXPECT_THAT(sample_line(reply.body, "messaging_client_sent_messages_total"),
              HasSubstr("messaging_destination_name=\"orders\"} 1"))
      << "the page is the whole registry, the channel's figures too";
  EXPECT_EQ(courier_ws_test::http_get(server_->port(), "/metrics?x=1").status, 200);
  const auto [status, said] = courier_test::promtool_check(reply.body);
  EXPECT_EQ(status, 0) << said << "\n" << reply.body;
}

TEST_F(ws_server, get_metrics_counts_error_frames_by_code_and_sessions_by_unacked_events) {
  auto registry = std::make_shared<courier::metrics_registry>();
  start({.metrics = registry});
  raw_peer quiet(server_->port());  // subscribes and never acks
  ASSERT_THAT(quiet.hello(), HasSubstr(R"("resumed":false)"));
  quiet.send(R"({"op":"subscribe","topics":["parcel"],"ref":"s"})");
  ASSERT_THAT(quiet.read_until("subscribed"), HasSubstr("parcel"));
  raw_peer careless(server_->port());  // sends bad input, holds nothing
  ASSERT_THAT(careless.hello(), HasSubstr(R"("resumed":false)"));
  for (const char* junk : {"this is not json", "[1]", R"({"op":"dance"})"}) {
    careless.send(junk);
    careless.read_until(R"("op":"error")");
  }
  for (int i = 0; i < 12; ++i) bus_.publish(parcel{i, "acme"});
  ASSERT_TRUE(server_->wait_for_stats([](const auto& stats) { return stats.unacked == 12; }, 5s));

  const auto reply = courier_ws_test::http_get(server_->port(), "/metrics");
  ASSERT_EQ(reply.status, 200) << reply.body;
  auto line = [&](const std::string& metric, const std::string& labels) {
    const std::string needle = metric + "{";
    for (std::size_t at = reply.body.find(needle); at != std::string::npos;
         at = reply.body.find(needle, at + 1)) {
      const std::string whole = reply.body.substr(at, reply.body.find('\n', at) - at);
      if (whole.find(labels) != std::string::npos) return whole;
    }
    return std::string();
  };
  EXPECT_THAT(line("courier_ws_error_frames_total", "code=\"malformed_json\""), ::testing::EndsWith(" 2"));
  EXPECT_THAT(line("courier_ws_error_frames_total", "code=\"unknown_op\""), ::testing::EndsWith(" 1"));
  EXPECT_THAT(line("courier_ws_error_frames_total", "code=\"rate_limited\""), ::testing::EndsWith(" 0"))
      << "every code is reported from the start";
  EXPECT_THAT(line("courier_ws_slow_consumers_total", "server_port"), ::testing::EndsWith(" 0"));
  // Two sessions: one holds nothing, one holds 12.
  EXPECT_THAT(line("courier_ws_session_unacked_events_bucket", "le=\"0\""), ::testing::EndsWith(" 1"));
  EXPECT_THAT(line("courier_ws_session_unacked_events_bucket", "le=\"10\""), ::testing::EndsWith(" 1"));
  EXPECT_THAT(line("courier_ws_session_unacked_events_bucket", "le=\"100\""), ::testing::EndsWith(" 2"));
  EXPECT_THAT(line("courier_ws_session_unacked_events_sum", "server_port"), ::testing::EndsWith(" 12"));
  EXPECT_THAT(line("courier_ws_session_unacked_events_count", "server_port"), ::testing::EndsWith(" 2"));
  const auto [status, said] = courier_test::promtool_check(reply.body);
  EXPECT_EQ(status, 0) << said << "\n" << reply.body;
}

TEST_F(ws_server, an_event_carries_the_trace_of_the_work_that_published_it) {
  start();
  raw_peer peer(server_->port());
  ASSERT_THAT(peer.hello(), HasSubstr(R"("resumed":false)"));
  peer.send(R"({"op":"subscribe","topics":["parcel","pickup"],"ref":"s"})");
  ASSERT_THAT(peer.read_until("subscribed"), HasSubstr("parcel"));
  const courier::trace_context request{"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
                                       "congo=t61rcWkgMzE"};
  {
    const courier::trace_scope scope(request);
    bus_.publish(parcel{1, "acme"});
  }
  bus_.publish(parcel{2, "acme"});
  const std::string traced = peer.read_until(R"("op":"event")");
  EXPECT_THAT(traced,
              HasSubstr(R"("traceparent":"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")"));
  EXPECT_THAT(traced, HasSubstr(R"("tracestate":"congo=t61rcWkgMzE")"));
  const std::string plain = peer.read_until(R"("op":"event")");
  EXPECT_THAT(plain, ::testing::Not(HasSubstr("traceparent")))
      << "an event published outside any trace carries none";

  // A client's publish: its trace goes through the topic's channel to the bus and back out.
  peer.send(
      R"({"op":"publish","topic":"pickup","group":"g","key":"k1","ref":"p","data":{"vendor":"v","parcel":3},)"
      R"("traceparent":"00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"})");
  const std::string echoed = peer.read_until(R"("topic":"pickup")");
  EXPECT_THAT(echoed,
              HasSubstr(R"("traceparent":"00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01")"));
}

TEST_F(ws_server, get_metrics_needs_a_bearer_token_when_the_server_checks_tokens) {
  auto registry = std::make_shared<courier::metrics_registry>();
  start({.authorize = [](std::string_view token) { return token == "scraper-secret"; },
         .allowed_origins = {"https://dashboard.example"},
         .metrics = registry});
  EXPECT_EQ(courier_ws_test::http_get(server_->port(), "/metrics").status, 401);
  EXPECT_EQ(
      courier_ws_test::http_get(server_->port(), "/metrics", {{"Authorization", "Bearer wrong"}}).status,
      401);
  EXPECT_EQ(courier_ws_test::http_get(
                server_->port(), "/metrics",
                {{"Authorization", "Bearer scraper-secret"}, {"Origin", "https://evil.example"}})
                .status,
            403);
  const auto allowed =
      courier_ws_test::http_get(server_->port(), "/metrics", {{"Authorization", "Bearer scraper-secret"}});
  EXPECT_EQ(allowed.status, 200);
  EXPECT_THAT(allowed.body, HasSubstr("courier_ws_connections"));
}

TEST_F(ws_server, without_a_registry_there_is_no_metrics_page) {
  start();
  EXPECT_EQ(courier_ws_test::http_get(server_->port(), "/metrics").status, 404);
}

}  // namespace
