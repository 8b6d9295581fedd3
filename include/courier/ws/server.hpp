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
#include "courier/ws/frames.hpp"

#include <boost/json.hpp>

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
};

namespace detail {
class server_impl;

// A registered topic as the server sees it, whatever its event type.
class topic_base {
 public:
  virtual ~topic_base() = default;
  // Decodes and sends a client's publish into the topic's channel.
  virtual std::variant<receipt_frame, error_frame> publish(const publish_frame& frame) = 0;
  // Starts moving accepted publishes onto the bus. Called once by the server.
  virtual void start() = 0;
  virtual void stop() = 0;
};

// A client's publish as its event shows it: the receipt's id and the
// publish's group.
struct client_origin {
  std::string id;
  std::optional<std::string> group;
};
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
    std::unique_ptr<publisher<E>> handler;
    if (options.publish) handler = std::make_unique<publisher<E>>(*this, bus_, name, index, options);
    // Every E on the bus goes to the topic's sessions, encoded once. A
    // client's publish, as the topic's publisher puts it on the bus, keeps
    // its receipt's id and its group; any other E (the application's, or one
    // an observer publishes while handling a client's) gets an id of its own.
    // The handler lives until ~server, after stop() disconnected this.
    publisher<E>* from_clients = handler.get();
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
  const server_options& options() const;

 private:
  template <class E>
  class publisher final : public detail::topic_base {
   public:
    publisher(server& owner, courier::bus& bus, std::string name, std::size_t index,
              const topic_options& options)
        : owner_(owner),
          bus_(bus),
          name_(std::move(name)),
          index_(index),
          fifo_(options.fifo),
          channel_(channel_options<E>{
              .ordering = options.fifo ? ordering::fifo : ordering::none,
              .dedup_window = owner.options().dedup_window,
              .capacity = options.capacity,
          }) {}

    std::variant<receipt_frame, error_frame> publish(const publish_frame& frame) override {
      auto decoded = boost::json::try_value_to<E>(frame.data);
      if (!decoded) {
        return make_error(error_code::invalid_data,
                          "data does not decode as " + name_ + ": " + decoded.error().message(), frame.ref);
      }
      if (fifo_ && !frame.group) {
        auto error =
            make_error(error_code::missing_group, name_ + " is FIFO: a publish needs a group", frame.ref);
        error.field = "group";
        return error;
      }
      // The group travels with the message on any topic (a standard channel
      // keeps it as a label), so its event carries it.
      const auto sent = channel_.try_send(std::move(*decoded), {.group = frame.group.value_or(""),
                                                                .idempotency_key = frame.key.value_or("")});
      if (!sent) {
        return make_error(error_code::busy, name_ + ": too many publishes waiting; retry with the same key",
                          frame.ref);
      }
      return receipt_frame{.id = owner_.publish_id(index_, sent->id.value),
                           .duplicate = sent->duplicate,
                           .key = frame.key,
                           .ref = frame.ref};
    }

    void start() override {
      // One consumer thread: one client message on the bus at a time.
      running_ = channel_.consume([this](delivery<E>& item) {
        origin_ = {owner_.publish_id(index_, item.id().value),
                   item.group().empty() ? std::nullopt : std::optional<std::string>(item.group())};
        publishing_.store(&item.message(), std::memory_order_release);
        try {
          bus_.publish(item.message());
        } catch (...) {
          // An application observer threw: the event was published to the
          // others; it must not come again (that would repeat it for all).
        }
        publishing_.store(nullptr, std::memory_order_release);
      });
    }
    void stop() override { running_.stop(); }

    // The origin of event if it is the very object this publisher is
    // putting on the bus, and only the first time it is asked: the topic's
    // observer asks once per call, so an observer that publishes this object
    // again gets a new id. publish() hands the observers the caller's object,
    // and while it lives no other object has its address. Thread-safe.
    const detail::client_origin* origin_of(const E& event) {
      const E* expected = &event;
      if (publishing_.load(std::memory_order_acquire) != expected) return nullptr;  // the common case
      if (!publishing_.compare_exchange_strong(expected, nullptr, std::memory_order_acq_rel)) return nullptr;
      return &origin_;  // written by this thread (the consumer's) before publish
    }

   private:
    server& owner_;
    courier::bus& bus_;
    std::string name_;
    std::size_t index_;
    bool fifo_;
    channel<E> channel_;
    detail::client_origin origin_;               // of the message being published
    std::atomic<const E*> publishing_{nullptr};  // that message, until its event is out
    consumer running_;
  };

  void check_options() const;
  std::size_t add_topic(const std::string& name, const topic_options& options);
  void set_topic(std::size_t index, subscription observer, std::unique_ptr<detail::topic_base> handler);
  void fan_out(std::size_t topic, std::string data, const detail::client_origin* origin);
  std::string publish_id(std::size_t topic, std::uint64_t message) const;

  courier::bus& bus_;
  // Set when the server runs its own threads. Declared before impl_, so it
  // is destroyed after it: the handlers it still holds release the
  // implementation last.
  std::unique_ptr<boost::asio::io_context> own_io_;
  std::shared_ptr<detail::server_impl> impl_;
};

}  // namespace ws
}  // namespace v1
}  // namespace courier
