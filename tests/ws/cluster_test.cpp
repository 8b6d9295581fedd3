// WebSocket nodes sharing one Redis (server_options::redis): every event
// published on the bus of any node reaches the subscribed clients of every
// node, once, all of them in one order; a node that cannot reach Redis does
// not start; events published while Redis is down arrive once it is back.
// Redis is Debian's redis-server on loopback, started by the CTest fixture
// (tests/redis/redis.sh) or, where a test stops it, by the test itself.
#include "raw_peer.hpp"
#include "ws_test_support.hpp"

#include "event_stream.hpp"
#include "redis_connection.hpp"

#include "courier/error.hpp"
#include "courier/testing/recorder.hpp"

#include <fmt/format.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <boost/json.hpp>

#include <sys/wait.h>
#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <map>
#include <set>

namespace {

using namespace courier_ws_test;
using courier::ws::detail::redis_connection;

std::string read_file(const std::string& path) {
  std::ifstream in(path);
  std::string text;
  std::getline(in, text);
  return text;
}

std::uint16_t fixture_port() {
  const char* dir = std::getenv("COURIER_TEST_REDIS_DIR");
  if (dir == nullptr)
    throw std::runtime_error("COURIER_TEST_REDIS_DIR is not set: run this test through ctest");
  const std::string port = read_file(std::string(dir) + "/port");
  if (port.empty()) throw std::runtime_error(std::string("no redis-server port in ") + dir + "/port");
  return static_cast<std::uint16_t>(std::stoi(port));
}

// Each test's keys apart from the others' (they share the fixture's Redis).
std::string prefix_of_this_test() {
  const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
  return std::string("courier-test:") + info->name();
}

// One node: a bus and a server on it, topic parcel, one Redis.
struct node {
  node(std::uint16_t redis_port, const std::string& prefix, std::uint16_t port = 0) {
    courier::ws::server_options options;
    options.port = port;
    options.redis = courier::ws::redis_options{.port = redis_port, .prefix = prefix};
    options.window = 1000;
    server = std::make_unique<courier::ws::server>(bus, options);
    server->topic<parcel>("parcel");
    server->topic<pickup>("pickup", {.publish = true, .fifo = true});
    server->start();
  }
  std::string url() const { return "ws://127.0.0.1:" + std::to_string(server->port()) + "/courier"; }

  courier::bus bus;
  std::unique_ptr<courier::ws::server> server;
};

// What a test reads of an event frame.
struct seen_event {
  std::string id;
  std::uint64_t seq = 0;
  std::uint64_t attempt = 0;
  int number = 0;
  friend bool operator==(const seen_event&, const seen_event&) = default;
};

std::ostream& operator<<(std::ostream& out, const seen_event& event) {
  return out << "{" << event.id << " seq " << event.seq << " attempt " << event.attempt << " #"
             << event.number << "}";
}

// The next count event frames the peer gets.
std::vector<seen_event> read_events(courier_ws_test::raw_peer& peer, std::size_t count) {
  std::vector<seen_event> out;
  while (out.size() < count) {
    const std::string frame = peer.read_until(R"("op":"event")");
    if (frame.empty()) break;
    const auto parsed = boost::json::parse(frame).as_object();
    out.push_back({std::string(parsed.at("id").as_string()), parsed.at("seq").to_number<std::uint64_t>(),
                   parsed.at("attempt").to_number<std::uint64_t>(),
                   static_cast<int>(parsed.at("data").as_object().at("number").to_number<std::int64_t>())});
  }
  return out;
}

// Waits until Redis holds the session's checkpoint with field at value
// (the node writes it through its writer thread, after the ack or the
// disconnection: no signal a test could wait on).
bool wait_for_checkpoint(std::uint16_t port, const std::string& prefix, const std::string& session,
                         std::uint64_t value, const std::string& field = "acked") {
  redis_connection redis("127.0.0.1", port, 2s);
  const auto deadline = std::chrono::steady_clock::now() + 10s;
  while (std::chrono::steady_clock::now() < deadline) {
    const auto stored = redis.run({"HGET", prefix + ":session:" + session, field});
    if (stored.text == std::to_string(value)) return true;
    std::this_thread::sleep_for(5ms);
  }
  return false;
}

std::string session_of(const std::string& welcome) {
  return std::string(boost::json::parse(welcome).as_object().at("session").as_string());
}

std::vector<std::string> ids_of(inbox& got) {
  std::lock_guard lock(got.mutex);
  std::vector<std::string> ids;
  for (const auto& each : got.events) ids.push_back(each.id);
  return ids;
}

TEST(ws_cluster, events_published_on_either_node_reach_the_clients_of_both_once_in_one_order) {
  const auto port = fixture_port();
  node first(port, prefix_of_this_test());
  node second(port, prefix_of_this_test());
  inbox on_first;
  inbox on_second;
  auto client_of_first = subscribed_client({.url = first.url()}, on_first);
  auto client_of_second = subscribed_client({.url = second.url()}, on_second);
  ASSERT_TRUE(client_of_first && client_of_second);

  // Both nodes publish at once: parcels 0..499 on the first, 1000..1499 on the second.
  constexpr int each = 500;
  std::thread publisher_one([&] {
    for (int i = 0; i < each; ++i) first.bus.publish(parcel{i, "one"});
  });
  std::thread publisher_two([&] {
    for (int i = 0; i < each; ++i) second.bus.publish(parcel{1000 + i, "two"});
  });
  publisher_one.join();
  publisher_two.join();
  ASSERT_TRUE(on_first.wait_for(2 * each, 20s)) << on_first.numbers().size();
  ASSERT_TRUE(on_second.wait_for(2 * each, 20s)) << on_second.numbers().size();

  for (inbox* got : {&on_first, &on_second}) {
    const auto numbers = got->numbers();
    ASSERT_EQ(numbers.size(), 2u * each);  // once: nothing more came
    // Every event, and each node's in the order it published them.
    std::vector<int> from_one;
    std::vector<int> from_two;
    for (int number : numbers) (number < 1000 ? from_one : from_two).push_back(number);
    ASSERT_EQ(from_one.size(), std::size_t{each});
    ASSERT_EQ(from_two.size(), std::size_t{each});
    for (int i = 0; i < each; ++i) {
      EXPECT_EQ(from_one[static_cast<std::size_t>(i)], i);
      EXPECT_EQ(from_two[static_cast<std::size_t>(i)], 1000 + i);
    }
    // seq 1, 2, 3, ... with no gaps.
    std::lock_guard lock(got->mutex);
    for (std::size_t i = 0; i < got->events.size(); ++i) EXPECT_EQ(got->events[i].seq, i + 1);
  }
  // One order for both nodes' clients, the two publishers interleaved alike.
  const auto ids = ids_of(on_first);
  EXPECT_EQ(ids, ids_of(on_second));
  EXPECT_EQ(std::set<std::string>(ids.begin(), ids.end()).size(), 2u * each);
}

TEST(ws_cluster, an_event_written_to_the_stream_twice_reaches_a_client_once) {
  // What a writer retrying an XADD whose reply was lost leaves in the
  // stream; and an entry courier did not write (no id) is passed over. A
  // raw peer sees every frame (courier's client would skip a repeated id).
  const auto port = fixture_port();
  node only(port, prefix_of_this_test());
  courier_ws_test::raw_peer peer(only.server->port());
  peer.hello();
  peer.send(R"({"op":"subscribe","topics":["parcel"]})");
  ASSERT_FALSE(peer.read_until("subscribed").empty());

  redis_connection redis("127.0.0.1", port, 2s);
  const std::string stream = prefix_of_this_test() + ":events";
  const std::string data = courier::json::encode(parcel{7, "twice"});
  for (int i = 0; i < 2; ++i) {
    ASSERT_FALSE(redis.run({"XADD", stream, "*", "id", "written-twice.1", "topic", "parcel", "data", data})
                     .is_error());
  }
  ASSERT_FALSE(redis.run({"XADD", stream, "*", "note", "not an event"}).is_error());
  only.bus.publish(parcel{8, "after"});

  const auto got = read_events(peer, 2);
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(got[0].number, 7);
  EXPECT_EQ(got[0].seq, 1u);
  EXPECT_EQ(got[1].number, 8);
  EXPECT_EQ(got[1].seq, 2u);
}

TEST(ws_cluster, a_node_that_cannot_reach_redis_does_not_start_and_says_where_it_looked) {
  // A port nothing listens on: bound and closed again.
  const std::uint16_t dead_port = [] {
    courier::bus bus;
    courier::ws::server probe(bus, {});
    probe.start();
    const auto port = probe.port();
    probe.stop();
    return port;
  }();
  courier::bus bus;
  courier::ws::server_options options;
  options.redis = courier::ws::redis_options{.port = dead_port, .timeout = 500ms};
  courier::ws::server server(bus, options);
  server.topic<parcel>("parcel");
  try {
    server.start();
    FAIL() << "start() succeeded without Redis";
  } catch (const courier::error& failed) {
    EXPECT_EQ(failed.code(), courier::make_error_code(courier::errc::storage_failed));
    EXPECT_NE(std::string(failed.what()).find("redis 127.0.0.1:" + std::to_string(dead_port)),
              std::string::npos)
        << failed.what();
  }
}

// A redis-server of the test's own (it stops and restarts it), on one port.
class own_redis {
 public:
  explicit own_redis(std::string dir) : dir_(std::move(dir)) { run("start", ""); }
  ~own_redis() { run("stop", ""); }
  std::uint16_t port() const { return static_cast<std::uint16_t>(std::stoi(read_file(dir_ + "/port"))); }
  void stop() {
    port_ = port();
    run("stop", "");
  }
  void start_again() { run("start", std::to_string(port_)); }

 private:
  void run(const std::string& action, const std::string& port) {
    const std::string command =
        "bash '" COURIER_TEST_REDIS_SH "' " + action + " '" + dir_ + "' " + port + " >/dev/null";
    const int status = std::system(command.c_str());
    if (status != 0) ADD_FAILURE() << command << " failed: " << status;
  }
  std::string dir_;
  std::uint16_t port_ = 0;
};

TEST(ws_cluster, events_published_while_redis_is_down_arrive_once_it_is_back) {
  own_redis redis(std::string(std::getenv("COURIER_TEST_REDIS_DIR")) + "-restart");
  node first(redis.port(), prefix_of_this_test());
  node second(redis.port(), prefix_of_this_test());
  inbox got;
  auto client = subscribed_client({.url = second.url()}, got);
  ASSERT_TRUE(client);
  for (int i = 0; i < 50; ++i) first.bus.publish(parcel{i, "before"});
  ASSERT_TRUE(got.wait_for(50, 10s));

  redis.stop();
  for (int i = 50; i < 150; ++i) first.bus.publish(parcel{i, "while down"});
  {
    // No new session while its record cannot be written.
    courier_ws_test::raw_peer newcomer(second.server->port());
    newcomer.send(R"({"op":"hello"})");
    EXPECT_TRUE(courier_ws_test::closes_with(newcomer, courier::ws::error_code::internal_error));
  }
  redis.start_again();  // AOF (appendfsync always) brings the stream back

  ASSERT_TRUE(got.wait_for(150, 20s)) << got.numbers().size();
  std::vector<int> expected(150);
  for (int i = 0; i < 150; ++i) expected[static_cast<std::size_t>(i)] = i;
  EXPECT_EQ(got.numbers(), expected);
  courier_ws_test::raw_peer newcomer(second.server->port());
  EXPECT_THAT(newcomer.hello(), ::testing::HasSubstr(R"("resumed":false)")) << "new sessions again";
}

TEST(ws_cluster, a_session_resumes_on_another_node_with_what_it_had_not_acked_then_the_rest) {
  const auto port = fixture_port();
  const std::string prefix = prefix_of_this_test();
  node first(port, prefix);
  node second(port, prefix);

  std::string token;
  std::vector<seen_event> before_the_move;
  {
    courier_ws_test::raw_peer peer(first.server->port());
    const std::string welcome = peer.hello();
    token = courier_ws_test::resume_token_of(welcome);
    peer.send(R"({"op":"subscribe","topics":["parcel"]})");
    ASSERT_FALSE(peer.read_until("subscribed").empty());
    for (int i = 0; i < 10; ++i) second.bus.publish(parcel{i, "acme"});  // published on the other node
    before_the_move = read_events(peer, 10);
    ASSERT_EQ(before_the_move.size(), 10u);
    peer.send(R"({"op":"ack","upto":4})");
    ASSERT_TRUE(wait_for_checkpoint(port, prefix, session_of(welcome), 4));
    peer.close();
    // Until the node has seen the client leave it may still send what is
    // published next, and those would rightly come back as attempt 2.
    ASSERT_TRUE(first.server->wait_for_stats([](const auto& now) { return now.connections == 0; }, 5s));
    ASSERT_TRUE(wait_for_checkpoint(port, prefix, session_of(welcome), 10, "sent"));
  }
  // Published while the client is away, on the node it left.
  for (int i = 10; i < 15; ++i) first.bus.publish(parcel{i, "acme"});

  courier_ws_test::raw_peer back(second.server->port());
  const std::string welcome = back.hello(R"(,"resume":")" + token + R"(")");
  EXPECT_THAT(welcome, ::testing::HasSubstr(R"("resumed":true)"));
  EXPECT_THAT(welcome, ::testing::HasSubstr(R"("acked":4)"));
  const auto after_the_move = read_events(back, 10);
  ASSERT_EQ(after_the_move.size(), 10u);
  // 5..10 again, the same ids and seqs, attempt 2; then 11..15, attempt 1.
  for (std::size_t i = 0; i < 6; ++i) {
    seen_event expected = before_the_move[4 + i];
    expected.attempt = 2;
    EXPECT_EQ(after_the_move[i], expected);
  }
  for (std::size_t i = 6; i < 10; ++i) {
    EXPECT_EQ(after_the_move[i].seq, 5 + i);
    EXPECT_EQ(after_the_move[i].number, static_cast<int>(4 + i));
    EXPECT_EQ(after_the_move[i].attempt, 1u);
  }
  const auto last = read_events(back, 1);
  ASSERT_EQ(last.size(), 1u);
  EXPECT_EQ(last[0].seq, 15u);
  EXPECT_EQ(last[0].number, 14);
}

TEST(ws_cluster, a_client_that_says_what_it_processed_gets_only_the_rest_on_the_other_node) {
  // The node it left died before writing the client's last acks: the
  // client's own `acked` in its hello is what counts.
  const auto port = fixture_port();
  const std::string prefix = prefix_of_this_test();
  node first(port, prefix);
  node second(port, prefix);
  std::string token;
  {
    courier_ws_test::raw_peer peer(first.server->port());
    const std::string welcome = peer.hello();
    token = courier_ws_test::resume_token_of(welcome);
    peer.send(R"({"op":"subscribe","topics":["parcel"]})");
    ASSERT_FALSE(peer.read_until("subscribed").empty());
    for (int i = 0; i < 8; ++i) first.bus.publish(parcel{i, "acme"});
    ASSERT_EQ(read_events(peer, 8).size(), 8u);
    peer.close();  // no ack sent: Redis has acked 0
    // The node wrote what it sent as the client left (so resent events say attempt 2).
    ASSERT_TRUE(wait_for_checkpoint(port, prefix, session_of(welcome), 8, "sent"));
  }
  courier_ws_test::raw_peer back(second.server->port());
  EXPECT_THAT(back.hello(R"(,"resume":")" + token + R"(","acked":6)"),
              ::testing::HasSubstr(R"("resumed":true)"));
  const auto rest = read_events(back, 2);
  ASSERT_EQ(rest.size(), 2u);
  EXPECT_EQ(rest[0].seq, 7u);
  EXPECT_EQ(rest[0].number, 6);
  EXPECT_EQ(rest[0].attempt, 2u);
  EXPECT_EQ(rest[1].seq, 8u);
  first.bus.publish(parcel{8, "acme"});
  const auto next = read_events(back, 1);
  ASSERT_EQ(next.size(), 1u);
  EXPECT_EQ(next[0].seq, 9u);
  EXPECT_EQ(next[0].attempt, 1u);
}

TEST(ws_cluster, sessions_outlive_a_restart_of_every_node) {
  const auto port = fixture_port();
  const std::string prefix = prefix_of_this_test();
  std::string token;
  {
    node only(port, prefix);
    courier_ws_test::raw_peer peer(only.server->port());
    token = courier_ws_test::resume_token_of(peer.hello());
    peer.send(R"({"op":"subscribe","topics":["parcel"]})");
    ASSERT_FALSE(peer.read_until("subscribed").empty());
    for (int i = 0; i < 3; ++i) only.bus.publish(parcel{i, "acme"});
    ASSERT_EQ(read_events(peer, 3).size(), 3u);
    peer.close();
  }  // the node stops; nothing of the session is left in its memory
  node restarted(port, prefix);
  courier_ws_test::raw_peer back(restarted.server->port());
  EXPECT_THAT(back.hello(R"(,"resume":")" + token + R"(","acked":1)"),
              ::testing::HasSubstr(R"("resumed":true)"));
  const auto rest = read_events(back, 2);
  ASSERT_EQ(rest.size(), 2u);
  EXPECT_EQ(rest[0].seq, 2u);
  EXPECT_EQ(rest[1].seq, 3u);
  restarted.bus.publish(parcel{3, "acme"});
  const auto next = read_events(back, 1);
  ASSERT_EQ(next.size(), 1u);
  EXPECT_EQ(next[0].seq, 4u);
  EXPECT_EQ(next[0].number, 3);
}

TEST(ws_cluster, a_session_that_another_node_took_over_is_closed_on_the_node_that_had_it) {
  const auto port = fixture_port();
  const std::string prefix = prefix_of_this_test();
  courier::ws::server_options options;
  options.redis = courier::ws::redis_options{.port = port, .prefix = prefix};
  options.session_ttl = 400ms;  // sweeps every 100 ms
  courier::bus bus_one;
  courier::bus bus_two;
  courier::ws::server first(bus_one, options);
  courier::ws::server second(bus_two, options);
  first.start();
  second.start();
  courier_ws_test::raw_peer holder(first.port());
  // The welcome comes once the session's record is in Redis.
  const std::string token = courier_ws_test::resume_token_of(holder.hello());
  courier_ws_test::raw_peer taker(second.port());
  EXPECT_THAT(taker.hello(R"(,"resume":")" + token + R"(")"), ::testing::HasSubstr(R"("resumed":true)"));
  EXPECT_TRUE(courier_ws_test::closes_with(holder, courier::ws::error_code::session_replaced, 5s));
}

TEST(ws_cluster, a_publish_retried_on_another_node_is_a_duplicate_with_the_first_id) {
  const auto port = fixture_port();
  const std::string prefix = prefix_of_this_test();
  node first(port, prefix);
  node second(port, prefix);
  courier::testing::recorder<pickup> on_first_bus(first.bus);
  courier::testing::recorder<pickup> on_second_bus(second.bus);
  courier::ws::client to_first({.url = first.url()});
  courier::ws::client to_second({.url = second.url()});
  to_first.connect();
  to_second.connect();
  ASSERT_TRUE(to_first.wait_connected(5s) && to_second.wait_connected(5s));

  const auto original =
      to_first.publish("pickup", pickup{"acme", 7}, {.key = "acme/7", .group = "acme"}).get();
  EXPECT_FALSE(original.duplicate);
  // The retry a client makes after losing its node: the same key, elsewhere.
  const auto retry = to_second.publish("pickup", pickup{"acme", 7}, {.key = "acme/7", .group = "acme"}).get();
  EXPECT_TRUE(retry.duplicate);
  EXPECT_EQ(retry.id, original.id);
  // A new key is new on either node.
  const auto next = to_second.publish("pickup", pickup{"acme", 8}, {.key = "acme/8", .group = "acme"}).get();
  EXPECT_FALSE(next.duplicate);
  EXPECT_NE(next.id, original.id);

  ASSERT_TRUE(on_first_bus.wait_for(1, 5s));
  // Parcel 8 went through the second node's channel in the retry's group
  // after the retry: a retry taken as new would be on that bus before it.
  ASSERT_TRUE(on_second_bus.wait_for(
      [](const std::vector<pickup>& seen) {
        return std::any_of(seen.begin(), seen.end(), [](const pickup& each) { return each.parcel == 8; });
      },
      5s));
  ASSERT_EQ(on_first_bus.count(), 1u) << "the original, on the bus of the node that took it";
  ASSERT_EQ(on_second_bus.count(), 1u) << "only the new key on the other node's bus";
  EXPECT_EQ(on_first_bus.events()[0].parcel, 7);
  EXPECT_EQ(on_second_bus.events()[0].parcel, 8);
}

TEST(ws_cluster, a_publish_is_answered_once_its_event_is_in_the_cluster) {
  // A receipt says the event reached every node's stream: a node killed
  // after answering would otherwise lose an event its publisher counts as
  // delivered. Each receipt's id is looked up in Redis the moment it arrives
  // (answering before the write, as one node does, fails this at once: the
  // receipt is one loopback hop, the write several thread hand-offs and a
  // round trip).
  const auto port = fixture_port();
  const std::string prefix = prefix_of_this_test();
  node only(port, prefix);
  courier_ws_test::raw_peer peer(only.server->port());
  peer.hello();
  constexpr int count = 100;
  for (int i = 0; i < count; ++i) {
    peer.send(fmt::format(
        R"({{"op":"publish","ref":"r{}","topic":"pickup","group":"acme","data":{{"vendor":"acme","parcel":{}}}}})",
        i, i));
  }
  redis_connection redis("127.0.0.1", port, 2s);
  for (int i = 0; i < count; ++i) {
    const std::string receipt = peer.read_until(R"("op":"receipt")");
    ASSERT_FALSE(receipt.empty()) << "receipt " << i;
    const std::string id(boost::json::parse(receipt).as_object().at("id").as_string());
    const auto entries = redis.run({"XRANGE", prefix + ":events", "-", "+"});
    const bool in_stream =
        std::any_of(entries.elements.begin(), entries.elements.end(), [&](const auto& entry) {
          const auto event = courier::ws::detail::event_of_entry(entry);
          return event && event->id == id;
        });
    ASSERT_TRUE(in_stream) << "receipt " << i << " (" << id << ") came before its event was in Redis";
  }
}

TEST(ws_cluster, a_client_with_several_urls_moves_to_the_next_node_and_misses_nothing) {
  // Three nodes: one where the events are published, two the client moves
  // between as each is stopped in turn (and the first started again on its
  // port). Every event reaches on_event once, in order.
  const auto port = fixture_port();
  const std::string prefix = prefix_of_this_test();
  node source(port, prefix);
  auto first = std::make_unique<node>(port, prefix);
  auto second = std::make_unique<node>(port, prefix);
  const std::uint16_t first_port = first->server->port();
  inbox got;
  auto client = subscribed_client(
      {.url = first->url(), .urls = {second->url()}, .backoff_initial = 10ms, .backoff_max = 200ms}, got);
  ASSERT_TRUE(client);

  constexpr int count = 3000;
  std::thread producer([&] {
    for (int i = 0; i < count; ++i) {
      // At most 200 ahead of the client: the moves happen mid-stream.
      if (i >= 200 && !got.wait_for(static_cast<std::size_t>(i - 200), 20s)) return;
      source.bus.publish(parcel{i, "acme"});
    }
  });
  ASSERT_TRUE(got.wait_for(count / 3, 20s));
  first.reset();  // the client's node goes: it moves to the second
  // Only once it is there does the first come back (on its port): the
  // client got there by moving on, not by waiting for it.
  const auto deadline = std::chrono::steady_clock::now() + 10s;
  while (client->stats().connections < 2 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(5ms);
  }
  ASSERT_EQ(client->stats().connections, 2u) << client->stats().last_error;
  first = std::make_unique<node>(port, prefix, first_port);
  ASSERT_TRUE(got.wait_for(2 * count / 3, 20s));
  second.reset();  // and that one goes too: back to the first, restarted
  producer.join();
  ASSERT_TRUE(got.wait_for(count, 20s)) << got.numbers().size();

  std::vector<int> expected(count);
  for (int i = 0; i < count; ++i) expected[static_cast<std::size_t>(i)] = i;
  EXPECT_EQ(got.numbers(), expected);
  EXPECT_GE(client->stats().connections, 3u);
  EXPECT_GE(client->stats().resumed, 2u) << "each move resumed the session";
}

TEST(ws_cluster, a_client_skips_a_node_that_is_down) {
  const auto port = fixture_port();
  node only(port, prefix_of_this_test());
  const std::uint16_t dead_port = [] {
    courier::bus bus;
    courier::ws::server probe(bus, {});
    probe.start();
    return probe.port();
  }();
  inbox got;
  auto client = subscribed_client({.url = "ws://127.0.0.1:" + std::to_string(dead_port) + "/courier",
                                   .urls = {only.url()},
                                   .backoff_initial = 10ms},
                                  got);
  ASSERT_TRUE(client);
  only.bus.publish(parcel{1, "acme"});
  ASSERT_TRUE(got.wait_for(1, 5s));
}

}  // namespace
