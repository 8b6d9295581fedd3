// WebSocket nodes sharing one Redis (server_options::redis): every event
// published on the bus of any node reaches the subscribed clients of every
// node, once, all of them in one order; a node that cannot reach Redis does
// not start; events published while Redis is down arrive once it is back.
// Redis is Debian's redis-server on loopback, started by the CTest fixture
// (tests/redis/redis.sh) or, where a test stops it, by the test itself.
#include "ws_test_support.hpp"

#include "redis_connection.hpp"

#include "courier/error.hpp"

#include <gtest/gtest.h>

#include <sys/wait.h>
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
  node(std::uint16_t redis_port, const std::string& prefix) {
    courier::ws::server_options options;
    options.redis = courier::ws::redis_options{.port = redis_port, .prefix = prefix};
    server = std::make_unique<courier::ws::server>(bus, options);
    server->topic<parcel>("parcel");
    server->start();
  }
  std::string url() const { return "ws://127.0.0.1:" + std::to_string(server->port()) + "/courier"; }

  courier::bus bus;
  std::unique_ptr<courier::ws::server> server;
};

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
  // stream; and an entry courier did not write (no id) is passed over.
  const auto port = fixture_port();
  node only(port, prefix_of_this_test());
  inbox got;
  auto client = subscribed_client({.url = only.url()}, got);
  ASSERT_TRUE(client);

  redis_connection redis("127.0.0.1", port, 2s);
  const std::string stream = prefix_of_this_test() + ":events";
  const std::string data = courier::json::encode(parcel{7, "twice"});
  for (int i = 0; i < 2; ++i) {
    ASSERT_FALSE(redis.run({"XADD", stream, "*", "id", "written-twice.1", "topic", "parcel", "data", data})
                     .is_error());
  }
  ASSERT_FALSE(redis.run({"XADD", stream, "*", "note", "not an event"}).is_error());
  only.bus.publish(parcel{8, "after"});

  ASSERT_TRUE(got.wait_for(2, 10s));
  std::this_thread::sleep_for(200ms);  // room for a wrong third event to arrive
  EXPECT_EQ(got.numbers(), (std::vector<int>{7, 8}));
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
  std::this_thread::sleep_for(300ms);  // the nodes meet the dead server
  EXPECT_EQ(got.numbers().size(), 50u);
  redis.start_again();  // AOF (appendfsync always) brings the stream back

  ASSERT_TRUE(got.wait_for(150, 20s)) << got.numbers().size();
  std::this_thread::sleep_for(200ms);
  std::vector<int> expected(150);
  for (int i = 0; i < 150; ++i) expected[static_cast<std::size_t>(i)] = i;
  EXPECT_EQ(got.numbers(), expected);
}

}  // namespace
