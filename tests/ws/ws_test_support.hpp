// What the WebSocket tests share: their event types, a collector for what a
// client's on_event saw, waiting for a subscription to take effect, and a
// stream of events while connections are killed from both ends.
#pragma once

#include "courier/bus.hpp"
#include "courier/json/codec.hpp"
#include "courier/ws/client.hpp"
#include "courier/ws/server.hpp"

#include <gtest/gtest.h>
#include <boost/describe.hpp>

#include <chrono>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace courier_ws_test {

using namespace std::chrono_literals;

struct parcel {
  int number = 0;
  std::string vendor;
};
BOOST_DESCRIBE_STRUCT(parcel, (), (number, vendor))

struct pickup {
  std::string vendor;
  int parcel = 0;
};
BOOST_DESCRIBE_STRUCT(pickup, (), (vendor, parcel))

// Collects what a client's on_event saw.
struct inbox {
  std::mutex mutex;
  std::condition_variable changed;
  std::vector<courier::ws::event_frame> events;

  void operator()(const courier::ws::event_frame& event) {
    std::lock_guard lock(mutex);
    events.push_back(event);
    changed.notify_all();
  }
  bool wait_for(std::size_t count, std::chrono::milliseconds timeout = 10s) {
    std::unique_lock lock(mutex);
    return changed.wait_for(lock, timeout, [&] { return events.size() >= count; });
  }
  std::vector<int> numbers() {
    std::lock_guard lock(mutex);
    std::vector<int> out;
    for (const auto& e : events) out.push_back(courier::json::decode<parcel>(e.data).number);
    return out;
  }
};

// A client whose events land in got, connected and subscribed to parcel,
// its subscription confirmed by the server (what is published next reaches
// it). Null, with the failure recorded, if that took over 5 s.
inline std::unique_ptr<courier::ws::client> subscribed_client(courier::ws::client_options options,
                                                              inbox& got) {
  auto client = std::make_unique<courier::ws::client>(std::move(options));
  client->on_event(std::ref(got));
  client->subscribe({"parcel"});
  client->connect();
  if (!client->wait_subscribed(5s)) {
    ADD_FAILURE() << "the client did not connect and subscribe: " << client->stats().last_error;
    return nullptr;
  }
  return client;
}

// A server on a free port with two topics: parcel (to clients only) and
// pickup (clients publish too; FIFO).
class server_fixture : public ::testing::Test {
 protected:
  void start(courier::ws::server_options options = {}) {
    server_ = std::make_unique<courier::ws::server>(bus_, std::move(options));
    server_->topic<parcel>("parcel");
    server_->topic<pickup>("pickup", {.publish = true, .fifo = true});
    server_->start();
  }
  std::string url() const { return "ws://127.0.0.1:" + std::to_string(server_->port()) + "/courier"; }

  courier::bus bus_;
  std::unique_ptr<courier::ws::server> server_;
};

// Publishes parcels 0..count-1 while the connection is killed `kills`
// times, alternately by the client and by the server. Driven by what got
// received, not by the clock: the producer keeps at most `lead` events
// ahead of the client, and kill k comes once the client has k/(kills+1) of
// them, so every kill lands on a live connection mid-stream.
inline void publish_while_killing(courier::bus& bus, courier::ws::server& server, courier::ws::client& client,
                                  inbox& got, int count, int kills, int lead = 100) {
  std::thread producer([&] {
    for (int i = 0; i < count; ++i) {
      if (i >= lead && !got.wait_for(static_cast<std::size_t>(i - lead), 20s)) return;  // the test then fails
      bus.publish(parcel{i, "acme"});
    }
  });
  for (int kill = 1; kill <= kills; ++kill) {
    if (!got.wait_for(static_cast<std::size_t>(count * kill / (kills + 1)), 20s)) break;
    if (kill % 2 == 1) {
      client.drop_connection();
    } else {
      server.drop_connections();
    }
  }
  producer.join();
}

}  // namespace courier_ws_test
