// One client connection of the WebSocket server: the socket from the HTTP
// upgrade (after the TLS handshake, for TLS) to the close. Transport only:
// the upgrade gate decides the upgrade, the protocol what frames mean, the
// hub where events come from. Here: reading frames within max_frame and the
// rate, writing them through a coalescing layer within max_send_buffer,
// heartbeats and the silence rule, and closing (docs/protocol.md §5-7).
// Included by server.cpp only: it pulls in Beast.
#pragma once

#include "coalescing_stream.hpp"
#include "connection.hpp"
#include "hub.hpp"
#include "protocol.hpp"
#include "token_bucket.hpp"
#include "upgrade_gate.hpp"

#include <fmt/format.h>
#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <boost/beast/websocket.hpp>

#include <atomic>
#include <chrono>
#include <deque>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

namespace courier {
inline namespace v1 {
namespace ws::detail {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace websocket = beast::websocket;
using tcp = asio::ip::tcp;

// What a connection uses of its server.
struct connection_services {
  const server_options& options;
  class hub& hub;
  server_counters& counters;  // a connection is counted in by the acceptor, out by itself
};

// The header of a server's text frame (RFC 6455 §5.2): FIN, opcode text,
// no extensions (none is negotiated), unmasked, the payload length in 7, 16
// or 64 bits.
inline std::string text_frame_header(std::size_t size) {
  std::string header(1, static_cast<char>(0x81));
  if (size < 126) {
    header += static_cast<char>(size);
  } else if (size <= 0xFFFF) {
    header += static_cast<char>(126);
    for (int shift = 8; shift >= 0; shift -= 8) header += static_cast<char>((size >> shift) & 0xFF);
  } else {
    header += static_cast<char>(127);
    const auto length = static_cast<std::uint64_t>(size);
    for (int shift = 56; shift >= 0; shift -= 8) header += static_cast<char>((length >> shift) & 0xFF);
  }
  return header;
}

// One socket, from the HTTP upgrade (after the TLS handshake, for TLS) to
// the close. Transport: beast::tcp_stream or beast::ssl_stream over it.
// Frames go out through a coalescing_stream, so a burst of events leaves in
// a few large writes instead of one syscall per frame.
template <class Transport>
class stream_connection final : public connection, private protocol::replies {
 public:
  static constexpr bool tls = !std::is_same_v<Transport, beast::tcp_stream>;

  // keep_alive: what holds services (the server's state outlives its connections).
  template <class... TransportArgs>
  stream_connection(std::shared_ptr<const void> keep_alive, connection_services services,
                    TransportArgs&&... transport_args)
      : keep_alive_(std::move(keep_alive)),
        services_(services),
        ws_(std::forward<TransportArgs>(transport_args)...),
        hello_timer_(ws_.get_executor()),
        heartbeat_timer_(ws_.get_executor()),
        silence_timer_(ws_.get_executor()),
        rate_limit_(services_.options.rate, std::chrono::steady_clock::now()),
        last_heard_(std::chrono::steady_clock::now()) {}

  ~stream_connection() override { services_.counters.connection_closed(); }

  void run() {
    ws_.next_layer().set_owner(weak_from_this());
    asio::dispatch(ws_.get_executor(), [self = self_ptr()] {
      if constexpr (tls) {
        beast::get_lowest_layer(self->ws_).expires_after(std::chrono::seconds(10));
        self->transport().async_handshake(asio::ssl::stream_base::server, [self](beast::error_code ec) {
          if (ec) return self->drop_now();
          self->read_request();
        });
      } else {
        self->read_request();
      }
    });
  }

  // Frames from other threads wait in incoming_; one posted flush moves
  // them all to the outbox, so a burst of events costs one post, not one each.
  void deliver(std::vector<std::string> frames) override {
    bool post_flush = false;
    {
      std::lock_guard lock(incoming_mutex_);
      for (auto& frame : frames) incoming_.push_back(std::move(frame));
      post_flush = !flush_posted_;
      flush_posted_ = true;
    }
    if (!post_flush) return;
    asio::post(ws_.get_executor(), [self = self_ptr()] {
      std::vector<std::string> arrived;
      {
        std::lock_guard lock(self->incoming_mutex_);
        arrived.swap(self->incoming_);
        self->flush_posted_ = false;
      }
      for (auto& frame : arrived) self->queue(std::move(frame));
    });
  }

  void close_with(error_frame error) override {
    asio::post(ws_.get_executor(),
               [self = self_ptr(), error = std::move(error)]() mutable { self->fatal(std::move(error)); });
  }

  void drop() override {
    asio::post(ws_.get_executor(), [self = self_ptr()] { self->drop_now(); });
  }

  void going_away() override {
    asio::post(ws_.get_executor(), [self = self_ptr()] {
      if (!self->open_) return self->drop_now();
      if (self->closing_) return;  // already closing with another reason; its deadline stands
      self->push_out(
          outgoing{{}, websocket::close_reason(websocket::close_code::going_away, "shutting_down")});
      self->start_closing();
      self->write_next();
    });
  }

 private:
  std::shared_ptr<stream_connection> self_ptr() {
    return std::static_pointer_cast<stream_connection>(shared_from_this());
  }
  // Under the coalescing layer: the HTTP request and answer go here
  // directly (an answer is followed by a drop and must not wait in a buffer).
  Transport& transport() { return ws_.next_layer().next_layer(); }

  static constexpr auto close_deadline = std::chrono::seconds(2);

  struct outgoing {
    std::string text;
    std::optional<websocket::close_reason> close;  // set: a close frame, not text
  };

  // --- the upgrade ---------------------------------------------------------

  void read_request() {
    parser_.emplace();
    parser_->body_limit(8 * 1024);
    parser_->header_limit(16 * 1024);
    beast::get_lowest_layer(ws_).expires_after(std::chrono::seconds(10));
    http::async_read(transport(), buffer_, *parser_,
                     [self = self_ptr()](beast::error_code ec, std::size_t) { self->on_request(ec); });
  }

  void on_request(beast::error_code ec) {
    if (ec) return drop_now();
    request_ = parser_->release();
    auto decision = check_upgrade(request_, services_.options);
    if (auto* answer = std::get_if<http_answer>(&decision)) return respond(std::move(*answer));
    protocol_.emplace(services_.hub, services_.options, services_.counters,
                      std::move(std::get<admission>(decision)));
    beast::get_lowest_layer(ws_).expires_never();
    ws_.set_option(
        websocket::stream_base::timeout{std::chrono::seconds(10), websocket::stream_base::none(), false});
    ws_.set_option(websocket::stream_base::decorator([](websocket::response_type& response) {
      response.set(http::field::sec_websocket_protocol, subprotocol);
      response.set(http::field::server, "courier");
    }));
    ws_.read_message_max(0);  // read_next() enforces max_frame itself
    ws_.auto_fragment(false);
    // Pings and pongs take a token like any frame (§5): a ping flood is cut
    // off as any other. Called inside Beast's read, so the close is posted.
    ws_.control_callback([this](websocket::frame_type kind, beast::string_view) {
      last_heard_ = std::chrono::steady_clock::now();
      if (kind == websocket::frame_type::close || rate_limit_.take(last_heard_) || over_rate_) return;
      over_rate_ = true;
      asio::post(ws_.get_executor(), [self = self_ptr()] { self->refuse_over_rate(); });
    });
    ws_.async_accept(request_,
                     [self = self_ptr()](beast::error_code accept_error) { self->on_accept(accept_error); });
  }

  void respond(http_answer answer) {
    auto response = std::make_shared<http::response<http::string_body>>(answer.status, request_.version());
    response->set(http::field::server, "courier");
    response->set(http::field::content_type, answer.content_type);
    if (answer.challenge) response->set(http::field::www_authenticate, "Bearer");
    response->keep_alive(false);
    response->body() = std::move(answer.body);
    response->prepare_payload();
    http::async_write(transport(), *response,
                      [self = self_ptr(), response](beast::error_code, std::size_t) { self->drop_now(); });
  }

  void on_accept(beast::error_code ec) {
    if (ec) return drop_now();
    // Small frames (events, acks) must not wait for Nagle's algorithm.
    beast::error_code ignored;
    beast::get_lowest_layer(ws_).socket().set_option(tcp::no_delay(true), ignored);
    open_ = true;
    last_heard_ = std::chrono::steady_clock::now();
    if (services_.counters.connections.load() > services_.options.max_connections) {
      return fatal(make_error(error_code::too_many_connections, "the server is at its connection limit"));
    }
    hello_timer_.expires_after(services_.options.hello_timeout);
    hello_timer_.async_wait([self = self_ptr()](beast::error_code timer_error) {
      if (!timer_error && !self->protocol_->current_session() && !self->closing_) {
        self->fatal(make_error(error_code::hello_timeout, "no hello in time"));
      }
    });
    schedule_heartbeat();
    watch_silence();
    read_next();
  }

  // --- reading -------------------------------------------------------------

  // Reads a frame piece by piece, never holding more than max_frame + 1
  // bytes of it: Beast's own limit would close with 1009 and no reason,
  // this one says too_large (§7), also when fragments add up past it.
  void read_next() {
    const std::size_t limit = services_.options.max_frame;
    const std::size_t room = limit - std::min(buffer_.size(), limit) + 1;
    ws_.async_read_some(buffer_, room,
                        [self = self_ptr()](beast::error_code ec, std::size_t) { self->on_read(ec); });
  }

  void on_read(beast::error_code ec) {
    if (ec) return finish();
    last_heard_ = std::chrono::steady_clock::now();
    if (closing_) {
      buffer_.consume(buffer_.size());
      return read_next();
    }
    if (buffer_.size() > services_.options.max_frame) {
      buffer_.consume(buffer_.size());
      fatal(make_error(error_code::too_large,
                       fmt::format("a frame over max_frame ({} bytes)", services_.options.max_frame)));
      return read_next();  // the rest of it is read and dropped until the close
    }
    if (!ws_.is_message_done()) return read_next();
    if (!rate_limit_.take(last_heard_)) {
      buffer_.consume(buffer_.size());
      return refuse_over_rate();
    }
    if (ws_.got_binary()) {
      buffer_.consume(buffer_.size());
      return fatal(make_error(error_code::binary_frame, "courier.v1 frames are text (JSON)"));
    }
    const std::string text = beast::buffers_to_string(buffer_.data());
    buffer_.consume(buffer_.size());
    try {
      protocol_->handle(text, shared_from_this(), *this);
    } catch (const std::exception& e) {
      // Nothing a peer sends should get here; if it does, this connection
      // ends (its session waits for a resume) and the server goes on.
      fatal(make_error(error_code::internal_error,
                       std::string("the server failed on this frame: ") + e.what()));
    }
    if (!closing_) read_next();
  }

  void refuse_over_rate() { fatal(make_error(error_code::rate_limited, "too many frames; batch your acks")); }

  // --- writing -------------------------------------------------------------

  // Every frame for the client waits here until the coalescing layer takes
  // it; a client that stops reading (acking blindly, or sending requests
  // whose replies pile up) would grow it without end, so past
  // max_send_buffer bytes the connection is closed as too slow.
  void queue(std::string text) {
    if (closing_ || !open_) return;
    push_out(outgoing{std::move(text), std::nullopt});
    write_next();
    if (outbox_bytes_ > services_.options.max_send_buffer) not_reading();
  }

  // protocol::replies: a reply goes out like any frame; a fatal error ends
  // the connection.
  void send(std::string text) override { queue(std::move(text)); }
  void close_with_error(error_frame error) override { fatal(std::move(error)); }

  void push_out(outgoing frame) {
    outbox_bytes_ += frame.text.size();
    outbox_.push_back(std::move(frame));
  }
  void pop_out() {
    outbox_bytes_ -= outbox_.front().text.size();
    outbox_.pop_front();
  }

  // What waits is dropped (events come again from the session, replies are
  // answered again when the client retries); a frame Beast is writing stays.
  void not_reading() {
    while (outbox_.size() > (writing_ ? 1 : 0)) {
      outbox_bytes_ -= outbox_.back().text.size();
      outbox_.pop_back();
    }
    fatal(make_error(
        error_code::slow_consumer,
        fmt::format("more than {} bytes waiting to be sent: the client is not reading; the session "
                    "is kept for {} ms",
                    services_.options.max_send_buffer, services_.options.session_ttl.count())));
  }

  // A fatal error: its frame, then the close its code calls for (before
  // welcome a code that is not fatal by itself closes with 4000).
  void fatal(error_frame error) {
    if (closing_) return;  // already on its way out with the first reason
    if (!open_) return drop_now();
    const error_code_info& row = info(error_code_named(error.code).value_or(error_code::internal_error));
    const auto code = static_cast<websocket::close_code>(row.fatal ? row.close : close_code::protocol_error);
    error.fatal = true;
    const std::string reason = error.code;
    services_.counters.frame_refused(error.code);
    push_out(outgoing{encode(error), std::nullopt});
    push_out(outgoing{{}, websocket::close_reason(code, reason)});
    start_closing();
    write_next();
  }

  // The close frame is queued: a peer that does not read cannot take it, so
  // the connection is dropped if it is not over within close_deadline (the
  // close handshake itself re-arms the timer with a shorter grace).
  void start_closing() {
    closing_ = true;
    heartbeat_timer_.expires_after(close_deadline);
    heartbeat_timer_.async_wait([self = self_ptr()](beast::error_code ec) {
      if (!ec) self->drop_now();
    });
  }

  void write_next() {
    if (writing_) return;
    // Text frames go straight into the coalescing layer, framed here, while
    // it has room and the WebSocket is open: Beast's write op per message
    // (a composed operation, a posted completion) cost more than the frame.
    // Beast still writes the control frames (pings, pongs, the close), each
    // whole, so they land between frames. Past high_water the frames take
    // Beast's path below and wait for the socket.
    while (!outbox_.empty() && !outbox_.front().close && ws_.is_open() && ws_.next_layer().has_room()) {
      ws_.next_layer().write_directly(text_frame_header(outbox_.front().text.size()), outbox_.front().text);
      pop_out();
    }
    if (outbox_.empty()) return cork(false);  // the queue is written: out it goes
    // One control frame at a time: a close waits for a ping in progress.
    if (outbox_.front().close && pinging_) return;
    writing_ = true;
    if (outbox_.front().close) {
      cork(false);
      ws_.async_close(*outbox_.front().close, [self = self_ptr()](beast::error_code) {
        self->writing_ = false;
        self->outbox_.clear();
        self->outbox_bytes_ = 0;
        // Give the peer a moment to answer the close, then drop.
        self->heartbeat_timer_.expires_after(std::chrono::seconds(1));
        self->heartbeat_timer_.async_wait([self](beast::error_code) { self->drop_now(); });
      });
      return;
    }
    // Beast writes one message at a time; with more queued, the coalescing
    // layer holds them until the last is written, and they leave together.
    if (outbox_.size() > 1) cork(true);
    ws_.text(true);
    ws_.async_write(asio::buffer(outbox_.front().text),
                    [self = self_ptr()](beast::error_code ec, std::size_t) {
                      self->writing_ = false;
                      if (ec) return self->drop_now();
                      self->pop_out();
                      self->write_next();
                    });
  }

  void cork(bool on) {
    if (on == corked_) return;
    corked_ = on;
    if (on) {
      ws_.next_layer().cork();
    } else {
      ws_.next_layer().uncork();
    }
  }

  // --- heartbeats and the end ------------------------------------------------

  void schedule_heartbeat() {
    heartbeat_timer_.expires_after(services_.options.heartbeat);
    heartbeat_timer_.async_wait([self = self_ptr()](beast::error_code ec) {
      if (ec || self->closing_ || !self->open_) return;
      if (self->pinging_) return self->schedule_heartbeat();  // the last ping is still on its way
      self->pinging_ = true;
      self->ws_.async_ping({}, [self](beast::error_code ping_error) {
        self->pinging_ = false;
        if (ping_error) return self->drop_now();
        self->write_next();
      });
      self->schedule_heartbeat();
    });
  }

  // A client silent for two heartbeats (no frame of any kind, pongs
  // included) is gone: dropped then, not at the next ping's tick (§6).
  void watch_silence() {
    silence_timer_.expires_at(last_heard_ + 2 * services_.options.heartbeat);
    silence_timer_.async_wait([self = self_ptr()](beast::error_code ec) {
      if (ec || self->dropped_) return;
      if (std::chrono::steady_clock::now() - self->last_heard_ >= 2 * self->services_.options.heartbeat) {
        return self->drop_now();
      }
      self->watch_silence();  // heard from meanwhile: wait from then
    });
  }

  void drop_now() {
    if (dropped_) return;
    dropped_ = true;
    closing_ = true;
    beast::error_code ignored;
    beast::get_lowest_layer(ws_).socket().shutdown(tcp::socket::shutdown_both, ignored);
    beast::get_lowest_layer(ws_).socket().close(ignored);
    hello_timer_.cancel();
    heartbeat_timer_.cancel();
    silence_timer_.cancel();
    finish();
  }

  // The connection is over, whichever way: its session waits for a resume.
  void finish() {
    if (finished_) return;
    finished_ = true;
    if (!dropped_) drop_now();
    if (protocol_ && protocol_->current_session()) services_.hub.detach(protocol_->current_session(), this);
  }

  std::shared_ptr<const void> keep_alive_;
  connection_services services_;
  websocket::stream<coalescing_stream<Transport>> ws_;
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::string_body>> parser_;
  http::request<http::string_body> request_;
  asio::steady_timer hello_timer_;
  asio::steady_timer heartbeat_timer_;  // pings; once closing, the close deadline
  asio::steady_timer silence_timer_;
  std::deque<outgoing> outbox_;
  std::size_t outbox_bytes_ = 0;  // of the text frames in outbox_
  std::mutex incoming_mutex_;     // guards the two below (deliver() runs on any thread)
  std::vector<std::string> incoming_;
  bool flush_posted_ = false;
  bool writing_ = false;
  bool corked_ = false;
  bool pinging_ = false;
  bool open_ = false;
  bool closing_ = false;
  bool dropped_ = false;
  bool finished_ = false;
  bool over_rate_ = false;  // a control frame found the bucket empty
  token_bucket rate_limit_;
  std::chrono::steady_clock::time_point last_heard_;
  std::optional<protocol> protocol_;  // from the upgrade on
};

}  // namespace ws::detail
}  // namespace v1
}  // namespace courier
