// courier::ws::server on Boost.Beast (see server.hpp; the wire is
// docs/protocol.md). One connection object per socket runs on its own
// strand: HTTP upgrade checks, the hello, the read loop, an outbox of frames,
// heartbeats. Sessions and topics live in server_impl under one mutex; events
// from the bus are queued into sessions and posted to their connection's
// strand while that mutex is held, so a session's frames leave in seq order.
#include "courier/ws/server.hpp"

#include "coalescing_stream.hpp"
#include "secret.hpp"
#include "session.hpp"

#include "courier/detail/sha256.hpp"

#include <fmt/format.h>
#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <boost/beast/websocket.hpp>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <map>
#include <mutex>
#include <thread>
#include <unordered_map>

namespace courier {
inline namespace v1 {
namespace ws {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace websocket = beast::websocket;
using tcp = asio::ip::tcp;

namespace detail {

namespace {

// Sessions are found by a digest of their resume token, not the token: a
// lookup's timing then tells a prober nothing about the token's bytes, and
// the token itself is compared in constant time (attach()).
std::string token_key(std::string_view token) {
  const auto digest = courier::detail::sha256::hash(token);
  return std::string(digest.begin(), digest.end());
}

bool equal_ignoring_case(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) == std::tolower(static_cast<unsigned char>(y));
         });
}

bool offers_subprotocol(std::string_view header) {
  // Sec-WebSocket-Protocol: a comma-separated list of tokens.
  while (!header.empty()) {
    const auto comma = header.find(',');
    std::string_view item = header.substr(0, comma);
    while (!item.empty() && (item.front() == ' ' || item.front() == '\t')) item.remove_prefix(1);
    while (!item.empty() && (item.back() == ' ' || item.back() == '\t')) item.remove_suffix(1);
    if (item == subprotocol) return true;
    if (comma == std::string_view::npos) break;
    header.remove_prefix(comma + 1);
  }
  return false;
}

// The header of a server's text frame (RFC 6455 §5.2): FIN, opcode text,
// no extensions (none is negotiated), unmasked, the payload length in 7, 16
// or 64 bits.
std::string text_frame_header(std::size_t size) {
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

asio::ssl::context make_tls_context(const tls_options& tls) {
  asio::ssl::context context(asio::ssl::context::tls_server);
  context.set_options(asio::ssl::context::default_workarounds | asio::ssl::context::no_sslv2 |
                      asio::ssl::context::no_sslv3 | asio::ssl::context::no_tlsv1 |
                      asio::ssl::context::no_tlsv1_1 | asio::ssl::context::single_dh_use);
  beast::error_code ec;
  context.use_certificate_chain_file(tls.certificate_chain_file, ec);
  if (ec) {
    throw error(errc::invalid_option, fmt::format("ws::server: TLS certificate chain '{}': {}",
                                                  tls.certificate_chain_file, ec.message()));
  }
  // OpenSSL also checks that the key is the certificate's ("key values mismatch").
  context.use_private_key_file(tls.private_key_file, asio::ssl::context::pem, ec);
  if (ec) {
    throw error(errc::invalid_option,
                fmt::format("ws::server: TLS private key '{}': {}", tls.private_key_file, ec.message()));
  }
  return context;
}

}  // namespace

// What the server needs of a connection, whatever stream it runs on
// (plain TCP or TLS; stream_connection below). Callable from any thread.
class connection : public std::enable_shared_from_this<connection> {
 public:
  virtual ~connection() = default;
  // Frames to send, in order.
  virtual void deliver(std::vector<std::string> frames) = 0;
  // An error frame, then a close with code.
  virtual void close_with(error_frame error, websocket::close_code code) = 0;
  // Drop the TCP connection (no close frame).
  virtual void drop() = 0;
  // The server is stopping: close with 1001.
  virtual void going_away() = 0;
};

struct topic_entry {
  std::string name;
  topic_options options;
  subscription observer;
  std::unique_ptr<topic_base> handler;
  std::vector<std::shared_ptr<session>> subscribers;
};

// Shared by the server and every handler in flight (connections, the
// acceptor, the sweeper): on an application's io_context, handlers may run
// or be destroyed after the server object is gone.
class server_impl : public std::enable_shared_from_this<server_impl> {
 public:
  server_impl(courier::bus& bus, asio::io_context& io, bool own_threads, server_options chosen)
      : bus(bus),
        options(std::move(chosen)),
        run_id(random_text(3)),
        io(io),
        own_threads(own_threads),
        acceptor(io) {
    if (options.tls) ssl.emplace(make_tls_context(*options.tls));
    limits.window = options.window;
    limits.slow_after = options.slow_after;
    limits.max_queued = options.max_queued;
    limits.max_frame = options.max_frame;
    limits.rate = options.rate;
    limits.heartbeat_ms = static_cast<std::uint64_t>(options.heartbeat.count());
    limits.session_ttl_ms = static_cast<std::uint64_t>(options.session_ttl.count());
    limits.dedup_window_ms = static_cast<std::uint64_t>(options.dedup_window.count());
    limits.max_send_buffer = options.max_send_buffer;
  }

  void start();
  void stop();
  void accept();
  void sweep();

  // The connection says hello: its session, new or resumed. Caller holds nothing.
  std::shared_ptr<session> attach(const std::shared_ptr<connection>& to, const hello_frame& hello,
                                  const std::string& identity, welcome_frame& welcome);
  void detach(const std::shared_ptr<session>& which, const connection* from);
  void end_session(const std::shared_ptr<session>& which);  // caller holds mutex
  // Sends what the session's window allows to its connection. Caller holds mutex.
  void pump(session& which);
  void fan_out(std::size_t topic, std::string data, const client_origin* origin);

  courier::bus& bus;
  const server_options options;
  server_limits limits;
  const std::string run_id;
  std::optional<asio::ssl::context> ssl;  // set: every connection is TLS
  asio::io_context& io;
  const bool own_threads;  // false: the application runs io
  tcp::acceptor acceptor;
  std::optional<asio::steady_timer> sweeper;
  std::vector<std::thread> threads;
  std::atomic<bool> stopped{false};
  bool started = false;

  mutable std::mutex mutex;  // guards everything below
  std::vector<std::unique_ptr<topic_entry>> topics;
  std::map<std::string, std::size_t, std::less<>> topic_index;
  std::unordered_map<std::string, std::shared_ptr<session>> sessions;  // by token_key(resume token)
  std::unordered_map<session*, std::weak_ptr<connection>> attached;
  std::vector<std::weak_ptr<connection>> connections;
  std::uint64_t next_session = 1;
  std::uint64_t next_event = 1;
  std::atomic<std::size_t> connection_count{0};
  std::atomic<std::uint64_t> events_sent{0};
  std::atomic<std::uint64_t> frames_refused{0};
};

// One socket, from the HTTP upgrade (after the TLS handshake, for TLS) to
// the close. Transport: beast::tcp_stream or beast::ssl_stream over it.
// Frames go out through a coalescing_stream, so a burst of events leaves in
// a few large writes instead of one syscall per frame.
template <class Transport>
class stream_connection final : public connection {
 public:
  static constexpr bool tls = !std::is_same_v<Transport, beast::tcp_stream>;

  template <class... TransportArgs>
  stream_connection(std::shared_ptr<server_impl> server, TransportArgs&&... transport_args)
      : owner_(std::move(server)),
        server_(*owner_),
        ws_(std::forward<TransportArgs>(transport_args)...),
        hello_timer_(ws_.get_executor()),
        heartbeat_timer_(ws_.get_executor()),
        silence_timer_(ws_.get_executor()),
        tokens_(static_cast<double>(server_.options.rate)),
        last_refill_(std::chrono::steady_clock::now()),
        last_heard_(last_refill_) {}

  ~stream_connection() override { server_.connection_count.fetch_sub(1); }

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

  void close_with(error_frame error, websocket::close_code code) override {
    asio::post(ws_.get_executor(), [self = self_ptr(), error = std::move(error), code]() mutable {
      self->fatal(std::move(error), code);
    });
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
    const std::string_view target(request_.target().data(), request_.target().size());
    const std::string_view path = target.substr(0, target.find('?'));
    if (!websocket::is_upgrade(request_)) {
      if (request_.method() == http::verb::get && server_.options.pages) {
        if (auto page = server_.options.pages(target))
          return respond(http::status::ok, page->body, page->content_type);
      }
      return respond(http::status::not_found, "not found\n");
    }
    if (path != server_.options.path) return respond(http::status::not_found, "courier: no WebSocket here\n");
    const auto protocols = request_[http::field::sec_websocket_protocol];
    if (!offers_subprotocol(std::string_view(protocols.data(), protocols.size()))) {
      return respond(http::status::bad_request, "courier: subprotocol courier.v1 required\n");
    }
    if (!server_.options.allowed_origins.empty() && request_.count(http::field::origin) != 0) {
      const auto origin = request_[http::field::origin];
      const std::string_view seen(origin.data(), origin.size());
      const bool allowed =
          std::any_of(server_.options.allowed_origins.begin(), server_.options.allowed_origins.end(),
                      [&](const std::string& each) { return equal_ignoring_case(each, seen); });
      if (!allowed) return respond(http::status::forbidden, "courier: origin not allowed\n");
    }
    if (server_.options.authorize && request_.count(http::field::authorization) != 0) {
      const auto header = request_[http::field::authorization];
      std::string_view value(header.data(), header.size());
      constexpr std::string_view bearer = "Bearer ";
      if (value.size() <= bearer.size() || !equal_ignoring_case(value.substr(0, bearer.size()), bearer) ||
          !server_.options.authorize(value.substr(bearer.size()))) {
        return respond(http::status::unauthorized, "courier: token rejected\n", "text/plain",
                       /*challenge=*/true);
      }
      identity_ = std::string(value.substr(bearer.size()));
      authenticated_ = true;
    }
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
      if (kind == websocket::frame_type::close || take_token() || over_rate_) return;
      over_rate_ = true;
      asio::post(ws_.get_executor(), [self = self_ptr()] { self->refuse_over_rate(); });
    });
    ws_.async_accept(request_,
                     [self = self_ptr()](beast::error_code accept_error) { self->on_accept(accept_error); });
  }

  void respond(http::status status, std::string body, std::string content_type = "text/plain",
               bool challenge = false) {
    auto response = std::make_shared<http::response<http::string_body>>(status, request_.version());
    response->set(http::field::server, "courier");
    response->set(http::field::content_type, content_type);
    if (challenge) response->set(http::field::www_authenticate, "Bearer");
    response->keep_alive(false);
    response->body() = std::move(body);
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
    if (server_.connection_count.load() > server_.options.max_connections) {
      return fatal({.code = "too_many_connections", .message = "the server is at its connection limit"},
                   websocket::close_code::try_again_later);
    }
    hello_timer_.expires_after(server_.options.hello_timeout);
    hello_timer_.async_wait([self = self_ptr()](beast::error_code timer_error) {
      if (!timer_error && !self->session_ && !self->closing_) {
        self->fatal({.code = "hello_timeout", .message = "no hello in time"}, websocket::close_code{4000});
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
    const std::size_t limit = server_.options.max_frame;
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
    if (buffer_.size() > server_.options.max_frame) {
      buffer_.consume(buffer_.size());
      fatal({.code = "too_large",
             .message = fmt::format("a frame over max_frame ({} bytes)", server_.options.max_frame)},
            websocket::close_code::too_big);
      return read_next();  // the rest of it is read and dropped until the close
    }
    if (!ws_.is_message_done()) return read_next();
    if (!take_token()) {
      buffer_.consume(buffer_.size());
      return refuse_over_rate();
    }
    if (ws_.got_binary()) {
      buffer_.consume(buffer_.size());
      return fatal({.code = "binary_frame", .message = "courier.v1 frames are text (JSON)"},
                   websocket::close_code::unknown_data);
    }
    const std::string text = beast::buffers_to_string(buffer_.data());
    buffer_.consume(buffer_.size());
    try {
      handle(text);
    } catch (const std::exception& e) {
      // Nothing a peer sends should get here; if it does, this connection
      // ends (its session waits for a resume) and the server goes on.
      fatal(
          {.code = "internal_error", .message = std::string("the server failed on this frame: ") + e.what()},
          websocket::close_code::internal_error);
    }
    if (!closing_) read_next();
  }

  void refuse_over_rate() {
    fatal({.code = "rate_limited", .message = "too many frames; batch your acks"},
          websocket::close_code::policy_error);
  }

  bool take_token() {
    const auto now = std::chrono::steady_clock::now();
    const double rate = static_cast<double>(server_.options.rate);
    tokens_ = std::min(rate, tokens_ + std::chrono::duration<double>(now - last_refill_).count() * rate);
    last_refill_ = now;
    if (tokens_ < 1) return false;
    tokens_ -= 1;
    return true;
  }

  void handle(const std::string& text) {
    auto decoded = decode_client_frame(text);
    if (auto* refused = std::get_if<frame_error>(&decoded)) {
      error_frame error{
          .code = refused->code, .message = refused->message, .ref = refused->ref, .field = refused->field};
      if (!session_) return fatal(std::move(error), websocket::close_code{4000});
      if (refused->op == "hello") {  // any second hello closes, well-formed or not (§7)
        return fatal({.code = "unexpected_hello", .message = "hello was already said", .ref = refused->ref},
                     websocket::close_code{4000});
      }
      server_.frames_refused.fetch_add(1);
      return queue(encode(error));
    }
    client_frame& frame = std::get<client_frame>(decoded);
    if (auto* hello = std::get_if<hello_frame>(&frame)) return on_hello(*hello);
    if (!session_) {
      return fatal({.code = "not_hello_first", .message = "the first frame must be hello"},
                   websocket::close_code{4000});
    }
    if (auto* subscribe = std::get_if<subscribe_frame>(&frame)) return on_subscribe(*subscribe);
    if (auto* ack = std::get_if<ack_frame>(&frame)) return on_ack(*ack);
    if (auto* publish = std::get_if<publish_frame>(&frame)) return on_publish(*publish);
  }

  void on_hello(const hello_frame& hello) {
    if (session_) {
      return fatal({.code = "unexpected_hello", .message = "hello was already said", .ref = hello.ref},
                   websocket::close_code{4000});
    }
    if (server_.options.authorize && !authenticated_) {
      if (!hello.token || !server_.options.authorize(*hello.token)) {
        return fatal({.code = "unauthorized", .message = "a valid token is required", .ref = hello.ref},
                     websocket::close_code{4001});
      }
      identity_ = *hello.token;
      authenticated_ = true;
    }
    hello_timer_.cancel();
    welcome_frame welcome;
    session_ = server_.attach(shared_from_this(), hello, identity_, welcome);
  }

  void on_subscribe(const subscribe_frame& request) {
    subscribed_frame reply{.unsubscribed = request.unsubscribe, .ref = request.ref};
    std::vector<std::string> refused;
    if (!request.unsubscribe && server_.options.may_subscribe) {
      for (const auto& name : request.topics) {
        if (!server_.options.may_subscribe(identity_, name)) refused.push_back(name);
      }
    }
    std::vector<std::string> unknown;
    {
      std::lock_guard lock(server_.mutex);
      for (const auto& name : request.topics) {
        if (server_.topic_index.count(name) == 0) unknown.push_back(name);
      }
      if ((unknown.empty() && refused.empty()) || request.unsubscribe) {
        for (const auto& name : request.topics) {
          const auto found = server_.topic_index.find(name);
          if (found == server_.topic_index.end()) continue;
          auto& subscribers = server_.topics[found->second]->subscribers;
          if (request.unsubscribe) {
            if (session_->topics().erase(name) != 0) std::erase(subscribers, session_);
          } else if (session_->topics().insert(name).second) {
            subscribers.push_back(session_);
          }
        }
        reply.topics.assign(session_->topics().begin(), session_->topics().end());
      }
    }
    if (!unknown.empty() && !request.unsubscribe) {
      server_.frames_refused.fetch_add(1);
      return queue(encode(error_frame{.code = "unknown_topic",
                                      .message = fmt::format("no topic {}", fmt::join(unknown, ", ")),
                                      .ref = request.ref,
                                      .topics = unknown}));
    }
    if (!refused.empty()) {
      server_.frames_refused.fetch_add(1);
      return queue(encode(
          error_frame{.code = "forbidden",
                      .message = fmt::format("not allowed to subscribe to {}", fmt::join(refused, ", ")),
                      .ref = request.ref,
                      .topics = refused}));
    }
    queue(encode(reply));
  }

  void on_ack(const ack_frame& ack) {
    session::ack_outcome outcome;
    {
      std::lock_guard lock(server_.mutex);
      outcome = session_->ack(ack);
      server_.pump(*session_);
    }
    if (!outcome.unknown_ids.empty()) {
      server_.frames_refused.fetch_add(1);
      queue(encode(
          error_frame{.code = "unknown_id",
                      .message = fmt::format("ack: {} not sent to this session", outcome.unknown_ids.size()),
                      .ref = ack.ref,
                      .ids = outcome.unknown_ids}));
    }
    if (outcome.unknown_seq) {
      server_.frames_refused.fetch_add(1);
      queue(encode(error_frame{.code = "unknown_seq",
                               .message = "ack: upto is above the highest seq sent",
                               .ref = ack.ref,
                               .seq = ack.upto}));
    }
  }

  void on_publish(const publish_frame& publish) {
    topic_base* handler = nullptr;
    bool known = false;
    {
      std::lock_guard lock(server_.mutex);
      const auto found = server_.topic_index.find(publish.topic);
      if (found != server_.topic_index.end()) {
        known = true;
        handler = server_.topics[found->second]->handler.get();
      }
    }
    if (!known) {
      server_.frames_refused.fetch_add(1);
      return queue(encode(error_frame{.code = "unknown_topic",
                                      .message = "no topic " + publish.topic,
                                      .ref = publish.ref,
                                      .topics = {publish.topic}}));
    }
    if (handler == nullptr) {
      server_.frames_refused.fetch_add(1);
      return queue(encode(error_frame{.code = "forbidden",
                                      .message = publish.topic + " is not open to publishing",
                                      .ref = publish.ref,
                                      .topics = {publish.topic}}));
    }
    auto outcome = handler->publish(publish);
    if (auto* receipt = std::get_if<receipt_frame>(&outcome)) return queue(encode(*receipt));
    server_.frames_refused.fetch_add(1);
    queue(encode(std::get<error_frame>(outcome)));
  }

  // --- writing -------------------------------------------------------------

  // Every frame for the client waits here until the coalescing layer takes
  // it; a client that stops reading (acking blindly, or sending requests
  // whose replies pile up) would grow it without end, so past
  // max_send_buffer bytes the connection is closed as too slow.
  void queue(std::string text) {
    if (closing_ || !open_) return;
    push_out(outgoing{std::move(text), std::nullopt});
    write_next();
    if (outbox_bytes_ > server_.options.max_send_buffer) not_reading();
  }

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
    fatal({.code = "slow_consumer",
           .message =
               fmt::format("more than {} bytes waiting to be sent: the client is not reading; the session is "
                           "kept for {} ms",
                           server_.options.max_send_buffer, server_.options.session_ttl.count())},
          websocket::close_code{4002});
  }

  void fatal(error_frame error, websocket::close_code code) {
    if (closing_) return;  // already on its way out with the first reason
    if (!open_) return drop_now();
    error.fatal = true;
    const std::string reason = error.code;
    server_.frames_refused.fetch_add(1);
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
    heartbeat_timer_.expires_after(server_.options.heartbeat);
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
    silence_timer_.expires_at(last_heard_ + 2 * server_.options.heartbeat);
    silence_timer_.async_wait([self = self_ptr()](beast::error_code ec) {
      if (ec || self->dropped_) return;
      if (std::chrono::steady_clock::now() - self->last_heard_ >= 2 * self->server_.options.heartbeat) {
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
    if (session_) server_.detach(session_, this);
  }

  std::shared_ptr<server_impl> owner_;  // the server's state outlives its connections
  server_impl& server_;
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
  double tokens_;
  std::chrono::steady_clock::time_point last_refill_;
  std::chrono::steady_clock::time_point last_heard_;
  std::string identity_;
  bool authenticated_ = false;
  std::shared_ptr<session> session_;
};

// --- server_impl -------------------------------------------------------------

void server_impl::start() {
  beast::error_code ec;
  const tcp::endpoint endpoint(asio::ip::make_address(options.host, ec), options.port);
  if (ec)
    throw error(errc::invalid_option, fmt::format("ws::server: host '{}': {}", options.host, ec.message()));
  acceptor.open(endpoint.protocol(), ec);
  if (!ec) acceptor.set_option(asio::socket_base::reuse_address(true), ec);
  if (!ec) acceptor.bind(endpoint, ec);
  if (!ec) acceptor.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) {
    throw error(errc::invalid_option, fmt::format("ws::server: cannot listen on {}:{}: {}", options.host,
                                                  options.port, ec.message()));
  }
  for (auto& topic : topics) {
    if (topic->handler) topic->handler->start();
  }
  sweeper.emplace(io);
  sweep();
  accept();
  {
    std::lock_guard lock(mutex);
    started = true;
  }
  if (!own_threads) return;
  for (std::size_t i = 0; i < std::max<std::size_t>(options.threads, 1); ++i) {
    threads.emplace_back([this] { io.run(); });
  }
}

void server_impl::accept() {
  acceptor.async_accept(
      asio::make_strand(io), [this, self = shared_from_this()](beast::error_code ec, tcp::socket socket) {
        if (ec) {
          if (!acceptor.is_open()) return;
        } else {
          connection_count.fetch_add(1);
          std::shared_ptr<connection> fresh;
          if (ssl) {
            auto secure = std::make_shared<stream_connection<beast::ssl_stream<beast::tcp_stream>>>(
                self, std::move(socket), *ssl);
            secure->run();
            fresh = std::move(secure);
          } else {
            auto plain = std::make_shared<stream_connection<beast::tcp_stream>>(self, std::move(socket));
            plain->run();
            fresh = std::move(plain);
          }
          {
            std::lock_guard lock(mutex);
            std::erase_if(connections, [](const std::weak_ptr<connection>& each) { return each.expired(); });
            connections.push_back(fresh);
          }
        }
        accept();
      });
}

// Ends the sessions whose clients did not come back within session_ttl.
void server_impl::sweep() {
  {
    std::lock_guard lock(mutex);
    const auto now = std::chrono::steady_clock::now();
    std::vector<std::shared_ptr<session>> expired;
    for (auto& [token, each] : sessions) {
      if (each->detached_at && now - *each->detached_at > options.session_ttl) expired.push_back(each);
    }
    for (auto& each : expired) end_session(each);
  }
  sweeper->expires_after(std::min<std::chrono::milliseconds>(
      options.session_ttl / 4 + std::chrono::milliseconds(1), std::chrono::seconds(1)));
  sweeper->async_wait([this, self = shared_from_this()](beast::error_code ec) {
    if (!ec) sweep();
  });
}

void server_impl::stop() {
  if (stopped.exchange(true)) return;
  for (auto& topic : topics) {
    if (topic->handler) topic->handler->stop();
  }
  if (!started) return;
  asio::post(io, [this, self = shared_from_this()] {
    beast::error_code ignored;
    acceptor.close(ignored);
    if (sweeper) sweeper->cancel();
  });
  std::vector<std::shared_ptr<connection>> open;
  {
    std::lock_guard lock(mutex);
    for (auto& each : connections) {
      if (auto alive = each.lock()) open.push_back(alive);
    }
  }
  for (auto& each : open) each->going_away();
  open.clear();
  // Connections close within about a second (close handshake, then drop).
  // On the application's io_context, called from one of its handlers, this
  // cannot wait: the closes finish after it returns (they hold this object).
  if (!own_threads && io.get_executor().running_in_this_thread()) return;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(3);
  while (connection_count.load() > 0 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  if (!own_threads) return;
  io.stop();
  for (auto& thread : threads) thread.join();
  threads.clear();
}

std::shared_ptr<session> server_impl::attach(const std::shared_ptr<connection>& to, const hello_frame& hello,
                                             const std::string& identity, welcome_frame& welcome) {
  std::lock_guard lock(mutex);
  std::shared_ptr<session> chosen;
  if (hello.resume) {
    const auto found = sessions.find(token_key(*hello.resume));
    if (found != sessions.end() && equal_in_constant_time(found->second->token(), *hello.resume) &&
        found->second->identity() == identity) {
      chosen = found->second;
    }
  }
  welcome.resumed = chosen != nullptr;
  if (!chosen) {
    chosen = std::make_shared<session>(fmt::format("s-{}-{}", run_id, next_session++), random_text(32),
                                       identity, limits);
    sessions.emplace(token_key(chosen->token()), chosen);
  } else {
    if (hello.acked) chosen->ack_upto(*hello.acked);
    if (auto previous = attached[chosen.get()].lock(); previous && previous != to) {
      previous->close_with({.code = "session_replaced", .message = "another connection resumed this session"},
                           websocket::close_code{4003});
      chosen->detach();
    }
  }
  chosen->detached_at.reset();
  chosen->attach();
  attached[chosen.get()] = to;
  welcome.session = chosen->id();
  welcome.resume = chosen->token();
  welcome.acked = chosen->acked_through();
  welcome.topics.assign(chosen->topics().begin(), chosen->topics().end());
  welcome.limits = limits;
  to->deliver({encode(welcome)});
  pump(*chosen);
  return chosen;
}

void server_impl::detach(const std::shared_ptr<session>& which, const connection* from) {
  std::lock_guard lock(mutex);
  const auto found = attached.find(which.get());
  if (found == attached.end()) return;
  const auto current = found->second.lock();
  if (current && current.get() != from) return;  // replaced by a newer connection
  if (!current && sessions.count(token_key(which->token())) == 0) return;
  attached.erase(found);
  which->detach();
  which->detached_at = std::chrono::steady_clock::now();
}

void server_impl::end_session(const std::shared_ptr<session>& which) {
  sessions.erase(token_key(which->token()));
  attached.erase(which.get());
  for (const auto& name : which->topics()) {
    if (const auto found = topic_index.find(name); found != topic_index.end()) {
      std::erase(topics[found->second]->subscribers, which);
    }
  }
}

void server_impl::pump(session& which) {
  const auto found = attached.find(&which);
  if (found == attached.end()) return;
  auto to = found->second.lock();
  if (!to) return;
  auto frames = which.take_sendable();
  if (frames.empty()) return;
  events_sent.fetch_add(frames.size(), std::memory_order_relaxed);
  to->deliver(std::move(frames));
}

void server_impl::fan_out(std::size_t topic, std::string data, const client_origin* origin) {
  auto event = std::make_shared<payload>();
  event->data = std::move(data);
  std::lock_guard lock(mutex);
  topic_entry& entry = *topics[topic];
  if (entry.subscribers.empty()) return;
  event->topic = entry.name;
  if (origin != nullptr) {
    event->id = origin->id;
    event->group = origin->group;
  } else {
    event->id = fmt::format("{}.{}", run_id, next_event++);
  }
  std::vector<std::shared_ptr<session>> overflowed;
  for (auto& each : entry.subscribers) {
    if (!each->enqueue(event)) {
      overflowed.push_back(each);
      continue;
    }
    pump(*each);
    if (each->slow()) {
      const auto found = attached.find(each.get());
      if (found == attached.end()) continue;
      if (auto to = found->second.lock()) {
        to->close_with({.code = "slow_consumer",
                        .message = fmt::format("more than {} events waiting; the session is kept for {} ms",
                                               options.slow_after, options.session_ttl.count())},
                       websocket::close_code{4002});
      }
      // Detached now: what comes next waits in the session for the resume.
      attached.erase(found);
      each->detach();
      each->detached_at = std::chrono::steady_clock::now();
    }
  }
  for (auto& each : overflowed) {
    if (auto to = attached[each.get()].lock()) {
      to->close_with(
          {.code = "session_overflow",
           .message = fmt::format("more than {} events queued; the session ended", options.max_queued)},
          websocket::close_code{4004});
    }
    end_session(each);
  }
}

}  // namespace detail

// --- server ------------------------------------------------------------------

server::server(courier::bus& bus, server_options options)
    : bus_(bus), own_io_(std::make_unique<asio::io_context>()) {
  impl_ = std::make_shared<detail::server_impl>(bus, *own_io_, true, std::move(options));
  check_options();
}

server::server(courier::bus& bus, boost::asio::io_context& io, server_options options) : bus_(bus) {
  impl_ = std::make_shared<detail::server_impl>(bus, io, false, std::move(options));
  check_options();
}

void server::check_options() const {
  if (impl_->options.path.empty() || impl_->options.path.front() != '/') {
    throw error(errc::invalid_option, "ws::server_options::path must start with '/'");
  }
  if (impl_->options.window == 0 || impl_->options.rate == 0 || impl_->options.max_queued == 0) {
    throw error(errc::invalid_option, "ws::server_options: window, rate and max_queued must not be 0");
  }
}

server::~server() {
  stop();
  // Handlers still in flight may hold the implementation a while (see
  // server_impl); what they could reach of this object goes now.
  std::lock_guard lock(impl_->mutex);
  for (auto& topic : impl_->topics) topic->handler.reset();
}

std::size_t server::add_topic(const std::string& name, const topic_options& options) {
  std::lock_guard lock(impl_->mutex);
  if (impl_->started)
    throw error(errc::invalid_option, "ws::server::topic(): register topics before start()");
  if (name.empty() || name.size() > 128)
    throw error(errc::invalid_option, "ws::server::topic(): 1 to 128 bytes");
  if (impl_->topic_index.count(name) != 0) {
    throw error(errc::invalid_option, fmt::format("ws::server::topic(): '{}' is registered already", name));
  }
  impl_->topics.push_back(std::make_unique<detail::topic_entry>());
  impl_->topics.back()->name = name;
  impl_->topics.back()->options = options;
  impl_->topic_index.emplace(name, impl_->topics.size() - 1);
  return impl_->topics.size() - 1;
}

void server::set_topic(std::size_t index, subscription observer,
                       std::unique_ptr<detail::topic_base> handler) {
  std::lock_guard lock(impl_->mutex);
  impl_->topics[index]->observer = std::move(observer);
  impl_->topics[index]->handler = std::move(handler);
}

void server::fan_out(std::size_t topic, std::string data, const detail::client_origin* origin) {
  impl_->fan_out(topic, std::move(data), origin);
}

std::string server::publish_id(std::size_t topic, std::uint64_t message) const {
  return fmt::format("{}.t{}.{}", impl_->run_id, topic, message);
}

void server::start() {
  {
    std::lock_guard lock(impl_->mutex);
    if (impl_->started || impl_->stopped)
      throw error(errc::invalid_option, "ws::server::start(): started before");
  }
  impl_->start();
}

std::uint16_t server::port() const { return impl_->acceptor.local_endpoint().port(); }

void server::stop() {
  impl_->stop();
  // The bus observers go before the topics' channels they may be fed from.
  std::lock_guard lock(impl_->mutex);
  for (auto& topic : impl_->topics) topic->observer.disconnect();
}

void server::drop_connections() {
  std::vector<std::shared_ptr<detail::connection>> open;
  {
    std::lock_guard lock(impl_->mutex);
    for (auto& each : impl_->connections) {
      if (auto alive = each.lock()) open.push_back(alive);
    }
  }
  for (auto& each : open) each->drop();
}

server_stats server::stats() const {
  std::lock_guard lock(impl_->mutex);
  std::size_t unacked = 0;
  for (const auto& [token, each] : impl_->sessions) unacked += each->queued();
  return {.connections = impl_->connection_count.load(),
          .sessions = impl_->sessions.size(),
          .events_sent = impl_->events_sent.load(),
          .unacked = unacked,
          .frames_refused = impl_->frames_refused.load()};
}

const server_options& server::options() const { return impl_->options; }

}  // namespace ws
}  // namespace v1
}  // namespace courier
