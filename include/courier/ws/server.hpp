// courier::ws::server: a bus's events to WebSocket clients with acks and
// resume, and clients' publishes back onto the bus through a channel
// (docs/protocol.md is the wire format; docs/websocket.md the guide).
//
//   courier::bus bus;
//   courier::ws::server server(bus, {.port = 8080});
//   server.topic<parcel_delivered>("parcel.delivered");                  // bus -> clients
//   server.topic<pickup>("pickup", {.publish = true, .fifo = true});     // clients -> bus too
//   server.start();
//
// Each registered topic's events, published on the bus by anyone, go to
// every session subscribed to it, and stay queued in the session until the
// client acks them, across disconnects (the client resumes with its token).
// A client's publish goes into the topic's courier::channel (so a retry
// with the same key is a duplicate, answered with the first id) and from
// there onto the bus; its subscribers get it as one event whose id is the
// receipt's.
//
// Threads: the server runs its connections on its own threads (options.threads).
// Everything here is thread-safe. Bad input from a peer gets an error frame
// or a close (docs/protocol.md §8) and never affects other connections.
// Beast and Asio stay in src/ws: this header does not include them.
#pragma once

#include "courier/bus.hpp"
#include "courier/channel.hpp"
#include "courier/event_name.hpp"
#include "courier/json/codec.hpp"
#include "courier/metrics.hpp"
#include "courier/ws/detail/topic_publisher.hpp"
#include "courier/ws/error_codes.hpp"
#include "courier/ws/frames.hpp"

#include <boost/json.hpp>

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace boost::asio {
class io_context;
}

namespace courier {
inline namespace v1 {
namespace ws {

// A page the server answers plain HTTP GETs with (the dashboard example).
struct http_page {
  std::string content_type = "text/html; charset=utf-8";
  std::string body = {};
};

// TLS for wss://: the server's certificate chain (leaf first) and its
// private key, PEM files. TLS 1.2 and later.
struct tls_options {
  std::string certificate_chain_file = {};
  std::string private_key_file = {};
};

// Several nodes on one Redis (docs/websocket.md, "Several nodes"): every
// event published on the bus of any node reaches the subscribed sessions on
// every node, all of them in one order. Sessions themselves still live in
// the node their client is connected to.
struct redis_options {
  std::string host = "127.0.0.1";
  std::uint16_t port = 6379;
  // Every key of one cluster starts with this: nodes with the same prefix
  // (on the same Redis) share their events.
  std::string prefix = "courier:ws";
  std::size_t history = 100'000;  // events the stream keeps, about (XADD MAXLEN ~)
  // Events published on this node and not yet in Redis (it is slow or
  // gone): past it, publishing on the bus waits.
  std::size_t max_pending = 100'000;
  std::chrono::milliseconds timeout = std::chrono::seconds(2);  // connecting, and each answer
};

struct server_options {
  std::string host = "127.0.0.1";
  std::uint16_t port = 0;  // 0: a free port, see port()
  std::string path = "/courier";
  std::optional<tls_options> tls = {};  // set: wss:// only (off by default)
  std::size_t threads = 1;
  // Set: every connection must present a token it accepts (Authorization:
  // Bearer header, or hello.token for browsers). Called on a server thread.
  std::function<bool(std::string_view token)> authorize = {};
  // Non-empty: a request with an Origin header must match one of these
  // (scheme://host[:port], case-insensitive). Requests without Origin pass.
  std::vector<std::string> allowed_origins = {};
  // Set: asked for each topic of a subscribe, with the connection's identity
  // (the token it presented; empty without authorize). A false refuses the
  // whole subscribe with `forbidden`, listing the refused topics. Called on
  // a server thread, without the server's locks.
  std::function<bool(std::string_view identity, std::string_view topic)> may_subscribe = {};
  std::size_t max_connections = 10'000;
  std::size_t max_frame = 1024 * 1024;  // bytes a client frame may have
  std::size_t rate = 1000;              // frames per second a connection may send
  std::chrono::milliseconds heartbeat = std::chrono::seconds(15);
  std::chrono::milliseconds hello_timeout = std::chrono::seconds(10);
  std::chrono::milliseconds session_ttl = std::chrono::minutes(2);
  std::size_t window = 256;
  // A connected client whose backlog (events waiting behind a full window)
  // grows by more than this above its lowest point on this connection is
  // too slow: closed with slow_consumer, session kept (docs/protocol.md §5).
  std::size_t slow_after = 1024;
  std::size_t max_queued = 10'000;
  // Bytes queued for one connection and not yet taken by its socket
  // (events and replies): past it, the client is not reading and is closed
  // with slow_consumer, session kept. Keep window x a large event below it.
  std::size_t max_send_buffer = 16 * 1024 * 1024;
  std::chrono::milliseconds dedup_window = std::chrono::minutes(5);
  // Plain HTTP GETs of other paths: the page for a target, or nullopt (404).
  std::function<std::optional<http_page>(std::string_view target)> pages = {};
  // Set: the server reports its figures there (connections, sessions,
  // events sent, unacked events, frames refused; docs/observability.md) and
  // answers GET metrics_path with the registry's whole Prometheus
  // exposition (every component registered in it). The same rules as an
  // upgrade guard it: the Origin allow-list, and with authorize a bearer
  // token in the Authorization header (required here: a scrape has no
  // hello frame). Empty: neither.
  std::shared_ptr<metrics_registry> metrics = {};
  std::string metrics_path = "/metrics";
  // Set: this server is one node of several sharing events through Redis.
  // start() throws courier::error (storage_failed) if Redis cannot be read.
  std::optional<redis_options> redis = {};
};

struct topic_options {
  bool publish = false;            // clients may publish to it
  bool fifo = false;               // client publishes need a group and keep its order
  std::size_t capacity = 100'000;  // client publishes waiting for the bus, at most
};

struct server_stats {
  std::size_t connections = 0;
  std::size_t sessions = 0;
  std::uint64_t events_sent = 0;
  std::size_t unacked = 0;           // events queued in sessions, sent or not, not yet acked
  std::uint64_t frames_refused = 0;  // error frames sent for bad input
  std::uint64_t slow_consumers = 0;  // times a session was cut off as too slow (kept for a resume)
  // Every error frame sent, by code (index: ws::error_code's value).
  std::array<std::uint64_t, detail::error_table.size()> error_frames = {};
  // How many sessions hold at most bound unacked events, for each bound of
  // unacked_bounds: cumulative, a snapshot over the sessions now.
  static constexpr std::array<std::size_t, 7> unacked_bounds = {0, 1, 10, 100, 1'000, 10'000, 100'000};
  std::array<std::size_t, unacked_bounds.size()> sessions_by_unacked = {};
};

namespace detail {
class server_impl;
}  // namespace detail

class server {
 public:
  // Runs on options.threads threads of its own.
  explicit server(courier::bus& bus, server_options options = {});
  // Runs on the application's io (its threads call io.run(); options.threads
  // is not used). io must outlive the server. stop() from another thread
  // waits (up to 3 s) for the connections to close; from one of io's
  // handlers it returns at once and the closes finish on io.
  server(courier::bus& bus, boost::asio::io_context& io, server_options options = {});
  ~server();  // stop()s
  server(const server&) = delete;
  server& operator=(const server&) = delete;

  // Registers event type E under name. Before start(). Throws
  // courier::error (invalid_option) for a name registered twice.
  template <class E>
  void topic(std::string name = std::string(event_name<E>()), topic_options options = {}) {
    const std::size_t index = add_topic(name, options);
    std::unique_ptr<detail::topic_publisher<E>> handler;
    if (options.publish) {
      handler = std::make_unique<detail::topic_publisher<E>>(
          bus_, typename detail::topic_publisher<E>::settings{.name = name,
                                                              .id_prefix = publish_id_prefix(index),
                                                              .fifo = options.fifo,
                                                              .capacity = options.capacity,
                                                              .dedup_window = this->options().dedup_window});
    }
    // Every E on the bus goes to the topic's sessions, encoded once. A
    // client's publish, as the topic's publisher puts it on the bus, keeps
    // its receipt's id and its group; any other E (the application's, or one
    // an observer publishes while handling a client's) gets an id of its own.
    // The handler lives until ~server, after stop() disconnected this.
    detail::topic_publisher<E>* from_clients = handler.get();
    auto subscription = bus_.subscribe<E>([this, index, from_clients](const E& event) {
      fan_out(index, json::encode(event), from_clients != nullptr ? from_clients->origin_of(event) : nullptr);
    });
    set_topic(index, std::move(subscription), std::move(handler));
  }

  // Binds and starts serving. Throws courier::error (invalid_option) when it
  // cannot listen (address in use, bad host).
  void start();
  // The port it listens on (after start()).
  std::uint16_t port() const;
  // Closes every connection (1001), stops the threads. Harmless twice.
  void stop();
  // Drops every connection at once, as a network failure would (no close
  // frame); sessions stay for their clients to resume. For tests and demos.
  void drop_connections();

  server_stats stats() const;
  // Blocks until condition(stats()) holds or timeout passes; whether it
  // held. Woken by each change of the counts, not by polling: for tests,
  // and for a shutdown that waits until every event is acked.
  bool wait_for_stats(const std::function<bool(const server_stats&)>& condition,
                      std::chrono::milliseconds timeout) const;
  const server_options& options() const;

 private:
  void check_options() const;
  void report_metrics();
  std::size_t add_topic(const std::string& name, const topic_options& options);
  void set_topic(std::size_t index, subscription observer, std::unique_ptr<detail::topic_base> handler);
  void fan_out(std::size_t topic, std::string data, const detail::client_origin* origin);
  // The first part of the ids of a topic's client publishes (the channel's id follows).
  std::string publish_id_prefix(std::size_t topic) const;

  courier::bus& bus_;
  metrics_registry::registration
      metrics_;  // reset first in ~server(): its collector reads the implementation
  // Set when the server runs its own threads. Declared before impl_, so it
  // is destroyed after it: the handlers it still holds release the
  // implementation last.
  std::unique_ptr<boost::asio::io_context> own_io_;
  std::shared_ptr<detail::server_impl> impl_;
};

}  // namespace ws
}  // namespace v1
}  // namespace courier
