// courier::ws::client on Boost.Beast (see client.hpp). Everything runs on the
// client's one thread; the public functions post to it.
#include "courier/ws/client.hpp"

#include "client_stream.hpp"
#include "courier/error.hpp"
#include "courier/trace_scope.hpp"
#include "pending_publishes.hpp"
#include "processed_events.hpp"
#include "secret.hpp"
#include "tls_context.hpp"
#include "ws_url.hpp"

#include <fmt/format.h>
#include <boost/asio.hpp>
#include <boost/asio/ssl/host_name_verification.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/ssl.hpp>
#include <boost/beast/websocket.hpp>
#include <boost/beast/websocket/ssl.hpp>

#include <algorithm>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <random>
#include <set>
#include <thread>

namespace courier {
inline namespace v1 {
namespace ws {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace websocket = beast::websocket;
using tcp = asio::ip::tcp;

namespace {

// The key of a publish without one: unguessable, so no other client can
// claim it first and make this publish a "duplicate" of its own.
std::string random_key() { return detail::random_text(18); }

}  // namespace

class client::impl : public std::enable_shared_from_this<impl> {
 public:
  explicit impl(client_options chosen)
      : options(std::move(chosen)),
        urls(parse_urls(options)),
        tls_context(any_tls(urls) ? std::optional<asio::ssl::context>(
                                        detail::client_tls_context(options.tls_ca_file, options.tls_verify))
                                  : std::nullopt),
        work(asio::make_work_guard(io)),
        resolver(io),
        retry_timer(io),
        ack_timer(io),
        backoff(options.backoff_initial),
        pending(options.max_pending_publishes) {}

  void start() {
    thread = std::thread([self = shared_from_this()] { self->io.run(); });
    asio::post(io, [self = shared_from_this()] { self->dial(); });
  }

  // --- connecting ----------------------------------------------------------

  // The server this connection goes to: options.url, then options.urls, in turn.
  const detail::ws_url& url() const { return urls[current_url]; }

  static std::vector<detail::ws_url> parse_urls(const client_options& options) {
    std::vector<detail::ws_url> out;
    if (!options.url.empty()) out.push_back(detail::parse_ws_url(options.url));
    for (const auto& each : options.urls) out.push_back(detail::parse_ws_url(each));
    if (out.empty()) throw error(errc::invalid_option, "ws::client: no url (client_options::url or urls)");
    return out;
  }

  static bool any_tls(const std::vector<detail::ws_url>& urls) {
    return std::any_of(urls.begin(), urls.end(), [](const detail::ws_url& each) { return each.tls; });
  }

  void dial() {
    if (closing) return;
    discarding = false;
    buffer.consume(buffer.size());  // a read cut short may have left part of a frame
    const std::uint64_t attempt = ++generation;
    ws.renew(io, url().tls ? &*tls_context : nullptr);
    const detail::ws_url& url = this->url();
    resolver.async_resolve(
        url.host, url.port,
        [self = shared_from_this(), attempt](beast::error_code ec, tcp::resolver::results_type found) {
          if (attempt != self->generation) return;
          if (ec) return self->lost("resolve: " + ec.message());
          self->ws.tcp().expires_after(std::chrono::seconds(5));
          self->ws.tcp().async_connect(
              found, [self, attempt](beast::error_code connect_error, const tcp::endpoint&) {
                if (attempt != self->generation) return;
                if (connect_error) return self->lost("connect: " + connect_error.message());
                if (self->tls_context) return self->tls_handshake(attempt);
                self->handshake(attempt);
              });
        });
  }

  // wss://: TLS first, the server's certificate checked against the host
  // name (and sent as SNI), then the WebSocket upgrade inside it.
  void tls_handshake(std::uint64_t attempt) {
    auto& secure = ws.tls();
    const std::string& host = url().host;
    if (SSL_set_tlsext_host_name(secure.native_handle(), host.c_str()) != 1) {
      return lost("TLS: cannot set the server name " + host);
    }
    if (options.tls_verify) secure.set_verify_callback(asio::ssl::host_name_verification(host));
    secure.async_handshake(asio::ssl::stream_base::client,
                           [self = shared_from_this(), attempt](beast::error_code ec) {
                             if (attempt != self->generation) return;
                             if (ec) return self->lost("TLS handshake: " + ec.message());
                             self->handshake(attempt);
                           });
  }

  void handshake(std::uint64_t attempt) {
    ws.tcp().expires_never();
    beast::error_code ignored;
    ws.tcp().socket().set_option(tcp::no_delay(true), ignored);  // acks are small
    const std::string token = options.token;
    ws.with([&](auto& stream) {
      stream.set_option(websocket::stream_base::timeout::suggested(beast::role_type::client));
      stream.read_message_max(options.max_frame);
      stream.set_option(websocket::stream_base::decorator([token](websocket::request_type& request) {
        request.set(beast::http::field::sec_websocket_protocol, subprotocol);
        if (!token.empty()) request.set(beast::http::field::authorization, "Bearer " + token);
      }));
    });
    ws.with([&](auto& stream) {
      stream.async_handshake(
          url().authority, url().target, [self = shared_from_this(), attempt](beast::error_code ec) {
            if (attempt != self->generation) return;
            if (ec) return self->lost("handshake: " + ec.message());
            hello_frame hello{.client = self->options.name.empty()
                                            ? std::nullopt
                                            : std::optional<std::string>(self->options.name)};
            if (!self->resume_token.empty()) {
              hello.resume = self->resume_token;
              hello.acked = self->last_seq;
            }
            self->open = true;
            self->send(encode(hello));
            self->read(attempt);
          });
    });
  }

  void read(std::uint64_t attempt) {
    ws.with([&](auto& stream) {
      stream.async_read(buffer, [self = shared_from_this(), attempt](beast::error_code ec, std::size_t) {
        if (attempt != self->generation) return;
        if (ec) {
          const auto code = self->ws.with([](auto& current) { return current.reason().code; });
          return self->lost(fmt::format("read: {} (close {})", ec.message(), static_cast<int>(code)),
                            static_cast<int>(code));
        }
        const std::string text = beast::buffers_to_string(self->buffer.data());
        self->buffer.consume(self->buffer.size());
        self->handle(text);
        if (attempt == self->generation) self->read(attempt);
      });
    });
  }

  // The connection is gone; try again unless the server said not to.
  void lost(const std::string& why, int close_code = 0) {
    if (ws.exists()) {
      beast::error_code ignored;
      ws.tcp().socket().close(ignored);
    }
    open = false;
    outbox.clear();
    writing = false;
    ++generation;
    {
      std::lock_guard lock(mutex);
      connected = false;
      confirmed.clear();  // the next welcome says what the session holds
      counters.last_error = why;
    }
    connected_changed.notify_all();
    if (closing) return;
    const bool replaced = close_code == static_cast<int>(ws::close_code::session_replaced);
    if (replaced || close_code == static_cast<int>(ws::close_code::unauthorized)) {
      // Replaced by another connection, or not allowed: coming back would
      // only repeat it.
      pending.fail_all(replaced ? "the session was resumed by another connection" : "unauthorized");
      return;
    }
    // The next server, if there are several (nodes of one cluster): the
    // session is resumed there. The same backoff as for one.
    current_url = (current_url + 1) % urls.size();
    thread_local std::mt19937_64 random(std::random_device{}());
    const auto pause = std::chrono::milliseconds(random() % static_cast<std::uint64_t>(backoff.count() + 1));
    backoff = std::min(backoff * 2, options.backoff_max);
    retry_timer.expires_after(pause);
    retry_timer.async_wait([self = shared_from_this()](beast::error_code ec) {
      if (!ec) self->dial();
    });
  }

  // --- frames --------------------------------------------------------------

  void handle(const std::string& text) {
    auto decoded = decode_server_frame(text);
    if (auto* bad = std::get_if<frame_error>(&decoded)) {
      std::lock_guard lock(mutex);
      ++counters.errors;
      counters.last_error = "unreadable frame from the server: " + bad->message;
      return;
    }
    auto& frame = std::get<server_frame>(decoded);
    if (auto* welcome = std::get_if<welcome_frame>(&frame)) return on_welcome(*welcome);
    if (auto* subscribed = std::get_if<subscribed_frame>(&frame)) return on_subscribed(*subscribed);
    if (auto* event = std::get_if<event_frame>(&frame)) return on_event(*event);
    if (auto* receipt = std::get_if<receipt_frame>(&frame)) return on_receipt(*receipt);
    if (auto* failure = std::get_if<error_frame>(&frame)) return on_error(*failure);
  }

  void on_welcome(const welcome_frame& welcome) {
    backoff = options.backoff_initial;
    if (!welcome.resumed) last_seq = 0;  // a new session numbers from 1 again
    resume_token = welcome.resume;
    std::vector<std::string> missing;
    for (const auto& topic : topics) {
      if (std::find(welcome.topics.begin(), welcome.topics.end(), topic) == welcome.topics.end()) {
        missing.push_back(topic);
      }
    }
    if (!missing.empty()) send(encode(subscribe_frame{.topics = missing}));
    // Publishes not answered yet go again, with their keys: a duplicate at worst.
    pending.for_each([this](const publish_frame& waiting) { send(encode(waiting)); });
    {
      std::lock_guard lock(mutex);
      ++counters.connections;
      if (welcome.resumed) ++counters.resumed;
      connected = true;
      confirmed = {welcome.topics.begin(), welcome.topics.end()};
    }
    connected_changed.notify_all();
  }

  // The reply lists the session's whole subscription.
  void on_subscribed(const subscribed_frame& reply) {
    {
      std::lock_guard lock(mutex);
      confirmed = {reply.topics.begin(), reply.topics.end()};
    }
    connected_changed.notify_all();
  }

  void on_event(const event_frame& event) {
    // After a handler failed, nothing more on this connection: what follows
    // the failed event must come after it, on the next connection.
    if (discarding) return;
    if (event.seq <= last_seq) {
      count_skipped();  // processed before; its ack was lost
    } else if (processed.contains(event.id)) {
      last_seq = event.seq;
      count_skipped();  // processed in an earlier session
    } else {
      try {
        if (handler) handler(event);
      } catch (const std::exception& e) {
        // Not processed: leave it unacked and reconnect; the session sends
        // it again (at-least-once), after what was processed is acked.
        {
          std::lock_guard lock(mutex);
          ++counters.handler_failures;
          counters.last_handler_failure = fmt::format("on_event threw for {}: {}", event.id, e.what());
        }
        send_ack();
        discarding = true;
        drop_after_writes();
        return;
      }
      last_seq = event.seq;
      processed.remember(event.id);
      std::lock_guard lock(mutex);
      ++counters.events;
    }
    if (++unacked >= options.ack_every) return send_ack();
    if (!ack_scheduled) {
      ack_scheduled = true;
      ack_timer.expires_after(options.ack_delay);
      ack_timer.async_wait([self = shared_from_this()](beast::error_code ec) {
        self->ack_scheduled = false;
        if (!ec) self->send_ack();
      });
    }
  }

  // Closes the TCP connection once the outbox is written (the read side
  // then notices and reconnects).
  void drop_after_writes() {
    drop_pending = true;
    if (!writing && outbox.empty()) drop_now();
  }
  void drop_now() {
    drop_pending = false;
    ws.close();
  }

  void send_ack() {
    if (unacked == 0 || !open) return;
    unacked = 0;
    send(encode(ack_frame{.upto = last_seq}));
  }

  void count_skipped() {
    std::lock_guard lock(mutex);
    ++counters.duplicates_skipped;
  }

  void on_receipt(const receipt_frame& receipt) {
    if (receipt.ref) pending.answer(*receipt.ref, receipt);
  }

  void on_error(const error_frame& failure) {
    {
      std::lock_guard lock(mutex);
      ++counters.errors;
      counters.last_error = failure.code + ": " + failure.message;
    }
    if (failure.ref && !failure.fatal) pending.refuse(*failure.ref, failure.code, failure.message);
  }

  // --- sending -------------------------------------------------------------

  void send(std::string text) {
    if (!open) return;
    outbox.push_back(std::move(text));
    write_next();
  }

  void write_next() {
    if (writing || outbox.empty() || !open) return;
    writing = true;
    ws.with([&](auto& stream) {
      stream.text(true);
      stream.async_write(
          asio::buffer(outbox.front()),
          [self = shared_from_this(), attempt = generation.load()](beast::error_code ec, std::size_t) {
            if (attempt != self->generation) return;
            self->writing = false;
            if (ec) return;  // the read side notices and reconnects
            self->outbox.pop_front();
            self->write_next();
            if (self->drop_pending && !self->writing && self->outbox.empty()) self->drop_now();
          });
    });
  }

  const client_options options;
  const std::vector<detail::ws_url> urls;
  std::size_t current_url = 0;                    // the io thread's
  std::optional<asio::ssl::context> tls_context;  // set for wss://
  asio::io_context io;
  asio::executor_work_guard<asio::io_context::executor_type> work;
  tcp::resolver resolver;
  asio::steady_timer retry_timer;
  asio::steady_timer ack_timer;
  std::thread thread;

  // On the client's thread only:
  detail::client_stream ws;
  std::atomic<std::uint64_t> generation{0};  // a callback of an older connection does nothing
  beast::flat_buffer buffer;
  std::deque<std::string> outbox;
  bool writing = false;
  bool drop_pending = false;  // drop_after_writes() was asked
  bool discarding = false;    // a handler failed: ignore this connection's events
  bool open = false;
  bool closing = false;
  std::chrono::milliseconds backoff;
  std::string resume_token;
  std::uint64_t last_seq = 0;
  detail::processed_events processed{65'536};  // ids handled lately, across sessions
  std::size_t unacked = 0;
  bool ack_scheduled = false;
  std::set<std::string> topics;
  detail::pending_publishes pending;
  std::function<void(const event_frame&)> handler;

  mutable std::mutex mutex;  // guards the four below, for other threads
  std::condition_variable connected_changed;
  bool connected = false;
  std::set<std::string> wanted;     // every topic subscribe() was asked for
  std::set<std::string> confirmed;  // the session's subscription, as the server last said
  client_stats counters;
};

client::client(client_options options) : impl_(std::make_shared<impl>(std::move(options))) {}

client::~client() { close(); }

void client::on_event(std::function<void(const event_frame&)> handler) {
  asio::post(impl_->io,
             [self = impl_, handler = std::move(handler)]() mutable { self->handler = std::move(handler); });
}

void client::connect() {
  if (!impl_->thread.joinable()) impl_->start();
}

bool client::wait_connected(std::chrono::milliseconds timeout) {
  std::unique_lock lock(impl_->mutex);
  return impl_->connected_changed.wait_for(lock, timeout, [&] { return impl_->connected; });
}

bool client::wait_disconnected(std::chrono::milliseconds timeout) {
  std::unique_lock lock(impl_->mutex);
  return impl_->connected_changed.wait_for(lock, timeout, [&] { return !impl_->connected; });
}

bool client::wait_subscribed(std::chrono::milliseconds timeout) {
  std::unique_lock lock(impl_->mutex);
  return impl_->connected_changed.wait_for(lock, timeout, [&] {
    return impl_->connected && std::includes(impl_->confirmed.begin(), impl_->confirmed.end(),
                                             impl_->wanted.begin(), impl_->wanted.end());
  });
}

void client::subscribe(std::vector<std::string> topics) {
  {
    std::lock_guard lock(impl_->mutex);
    impl_->wanted.insert(topics.begin(), topics.end());
  }
  asio::post(impl_->io, [self = impl_, topics = std::move(topics)] {
    std::vector<std::string> fresh;
    for (const auto& topic : topics) {
      if (self->topics.insert(topic).second) fresh.push_back(topic);
    }
    if (!fresh.empty()) self->send(encode(subscribe_frame{.topics = fresh}));
  });
}

std::future<receipt_frame> client::publish(std::string topic, std::string data_json,
                                           publish_options options) {
  std::error_code parse_error;
  boost::json::value data = boost::json::parse(data_json, parse_error);
  if (parse_error) {
    throw error(errc::malformed_message,
                fmt::format("ws::client::publish({}): data is not JSON: {}", topic, parse_error.message()));
  }
  if (options.trace.empty()) options.trace = current_trace();
  check_trace(options.trace, "ws::client::publish() publish_options::trace");
  auto promise = std::make_shared<std::promise<receipt_frame>>();
  auto future = promise->get_future();
  asio::post(impl_->io, [self = impl_, topic = std::move(topic), data = std::move(data),
                         options = std::move(options), promise]() mutable {
    if (self->closing) {
      promise->set_exception(
          std::make_exception_ptr(error(errc::channel_closed, "ws::client::publish(): closed")));
      return;
    }
    if (self->pending.full()) {
      promise->set_exception(std::make_exception_ptr(
          error(errc::channel_full,
                fmt::format("ws::client::publish({}): {} publishes are waiting for receipts already", topic,
                            self->pending.limit()))));
      return;
    }
    const std::string text = encode(self->pending.add(
        publish_frame{.topic = std::move(topic),
                      .data = std::move(data),
                      .key = options.key ? options.key : std::optional<std::string>(random_key()),
                      .group = std::move(options.group),
                      .traceparent = options.trace.empty()
                                         ? std::nullopt
                                         : std::optional<std::string>(options.trace.traceparent),
                      .tracestate = options.trace.tracestate.empty()
                                        ? std::nullopt
                                        : std::optional<std::string>(options.trace.tracestate)},
        std::move(*promise)));
    bool ready = false;
    {
      std::lock_guard lock(self->mutex);
      ready = self->connected;
    }
    if (ready) self->send(text);  // else on_welcome sends it
  });
  return future;
}

void client::close() {
  if (!impl_->thread.joinable()) return;
  std::promise<void> done;
  auto finished = done.get_future();
  asio::post(impl_->io, [self = impl_, &done] {
    self->closing = true;
    self->retry_timer.cancel();
    self->ack_timer.cancel();
    self->send_ack();
    self->pending.fail_all("the client closed");
    auto finish = [self, &done] {
      self->work.reset();
      self->io.stop();
      done.set_value();
    };
    if (self->open && self->ws.exists()) {
      self->open = false;
      self->ws.with([&](auto& stream) {
        stream.async_close(websocket::close_code::normal, [finish](beast::error_code) { finish(); });
      });
    } else {
      finish();
    }
  });
  if (finished.wait_for(std::chrono::seconds(3)) != std::future_status::ready) impl_->io.stop();
  impl_->thread.join();
}

void client::drop_connection() {
  asio::post(impl_->io, [self = impl_] { self->drop_now(); });
}

client_stats client::stats() const {
  std::lock_guard lock(impl_->mutex);
  return impl_->counters;
}

}  // namespace ws
}  // namespace v1
}  // namespace courier
