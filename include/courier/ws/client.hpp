// courier::ws::client: a C++ peer of courier::ws::server (docs/protocol.md).
//
//   courier::ws::client events({.url = "ws://127.0.0.1:8080/courier"});
//   events.on_event([](const courier::ws::event_frame& e) { show(e.topic, e.data); });
//   events.subscribe({"parcel.delivered"});
//   events.connect();
//   auto receipt = events.publish("pickup", pickup{"acme", 7}, {.key = "acme/7", .group = "acme"});
//   receipt.get();  // accepted (or a duplicate of the first publish of that key)
//
// It reconnects by itself (backoff with full jitter), resumes its session
// with its token and the last seq it processed, so events are neither lost
// nor handed to on_event twice: one already processed (its ack lost) is
// skipped and acked again, and ids are remembered across sessions. Events are
// acked after on_event returns, in batches. Publishes not yet answered are
// sent again after a reconnect with the same key (a publish without a key
// gets a random one), so each is applied once.
//
// An exception from on_event leaves that event unprocessed: the client
// records it (stats().last_handler_failure), reconnects, and the session sends the
// event again. Thread-safety: every member function is thread-safe; on_event
// runs on the client's own thread, one event at a time, in seq order.
#pragma once

#include "courier/json/codec.hpp"
#include "courier/trace_context.hpp"
#include "courier/ws/frames.hpp"

#include <chrono>
#include <cstdint>
#include <functional>
#include <future>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace courier {
inline namespace v1 {
namespace ws {

struct client_options {
  std::string url = {};  // ws://host:port/path, or wss:// for TLS
  // More servers: the nodes of one cluster (server_options::redis). A lost
  // or failed connection goes to the next one (url first, then these, round
  // and round), with the same backoff, and resumes the session there.
  std::vector<std::string> urls = {};
  std::string token = {};  // sent as Authorization: Bearer
  std::string name = {};   // hello.client
  std::chrono::milliseconds backoff_initial = std::chrono::milliseconds(100);
  std::chrono::milliseconds backoff_max = std::chrono::seconds(10);
  // Acks go out once this many events were processed, or after ack_delay.
  std::size_t ack_every = 64;
  std::chrono::milliseconds ack_delay = std::chrono::milliseconds(5);
  // wss://: the server's certificate must chain to a CA in this PEM file
  // (empty: the system's CAs) and name the url's host. tls_verify = false
  // skips both checks (a test against a self-signed certificate, never
  // production).
  std::string tls_ca_file = {};
  bool tls_verify = true;
  // Bytes a server frame may have. A larger one fails the connection (close
  // 1009) before it is held in memory; as the event would come again on
  // every reconnect, set this above the largest event the application sends.
  std::size_t max_frame = 16 * 1024 * 1024;
  // Publishes waiting for their receipts (sent, or held until connected).
  // Past it publish() fails at once with channel_full, so a server that
  // stops answering cannot make the client's memory grow without end.
  std::size_t max_pending_publishes = 10'000;
};

struct publish_options {
  std::optional<std::string> key = {};  // empty: a random one (retries still dedup)
  std::optional<std::string> group = {};
  // The W3C trace context the event carries to every subscriber; empty:
  // the one current on the calling thread (current_trace()), if any.
  trace_context trace = {};
};

struct client_stats {
  std::uint64_t connections = 0;  // successful handshakes, the first included
  std::uint64_t resumed = 0;      // welcomes with resumed = true
  std::uint64_t events = 0;       // handed to on_event
  std::uint64_t duplicates_skipped = 0;
  std::uint64_t errors = 0;  // error frames received
  std::string last_error = {};
  std::uint64_t handler_failures = 0;  // on_event threw (the event came again)
  std::string last_handler_failure = {};
};

class client {
 public:
  explicit client(client_options options);
  ~client();  // close()s
  client(const client&) = delete;
  client& operator=(const client&) = delete;

  // Set before connect().
  void on_event(std::function<void(const event_frame&)> handler);

  // Starts connecting (and reconnecting) on the client's thread.
  void connect();
  // Waits until a session is established; false on timeout.
  bool wait_connected(std::chrono::milliseconds timeout);
  // Waits until no connection is open (lost, dropped, or refused for good);
  // false on timeout.
  bool wait_disconnected(std::chrono::milliseconds timeout);

  // Adds topics to the subscription; kept across reconnects and new sessions.
  void subscribe(std::vector<std::string> topics);
  // Waits until connected and the server has confirmed every topic
  // subscribe() was asked for (events published on the bus from then on
  // reach this client); false on timeout. Thread-safe.
  bool wait_subscribed(std::chrono::milliseconds timeout);

  // Publishes data (JSON text) to topic; the future gets the receipt, or a
  // courier::error: malformed_message with the server's error code and
  // message, channel_full past max_pending_publishes, channel_closed.
  std::future<receipt_frame> publish(std::string topic, std::string data_json, publish_options options = {});
  template <class E>
  std::future<receipt_frame> publish(std::string topic, const E& event, publish_options options = {}) {
    return publish(std::move(topic), json::encode(event), std::move(options));
  }

  // Closes the connection (1000) and stops reconnecting. Pending publishes
  // fail with channel_closed. Harmless twice.
  void close();

  // Drops the TCP connection as a network failure would; the client
  // reconnects and resumes. For tests.
  void drop_connection();

  client_stats stats() const;

  class impl;

 private:
  std::shared_ptr<impl> impl_;
};

}  // namespace ws
}  // namespace v1
}  // namespace courier
