// courier::ws::server on Boost.Beast (see server.hpp; the wire is
// docs/protocol.md): the server's life cycle. It listens, makes a
// connection (stream_connection.hpp) for each socket on its own strand,
// sweeps expired sessions, and stops. What a client's frames mean is the
// protocol's (protocol.hpp); sessions and topics are the hub's (hub.hpp).
#include "courier/ws/server.hpp"
#include "courier/trace_scope.hpp"

#include "hub.hpp"
#include "secret.hpp"
#include "stream_connection.hpp"
#include "tls_context.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <atomic>
#include <mutex>
#include <thread>
#include <vector>

namespace courier {
inline namespace v1 {
namespace ws {

namespace detail {

// Shared by the server and every handler in flight (connections, the
// acceptor, the sweeper): on an application's io_context, handlers may run
// or be destroyed after the server object is gone.
class server_impl : public std::enable_shared_from_this<server_impl> {
 public:
  server_impl(asio::io_context& io, bool own_threads, server_options chosen)
      : options(std::move(chosen)),
        // A node of a cluster names its events among other nodes' (and
        // their restarts'): too many runs for 24 random bits.
        run_id(random_text(options.redis ? 9 : 3)),
        hub(options, run_id, counters.changed),
        io(io),
        own_threads(own_threads),
        acceptor(io) {
    if (options.tls) ssl.emplace(server_tls_context(*options.tls));
    if (options.redis) {
      stream = std::make_unique<event_stream>(*options.redis,
                                              [this](stream_event event) { hub.deliver(std::move(event)); });
      sessions = std::make_unique<redis_sessions>(*options.redis, run_id, options.session_ttl, *stream);
      publish_keys = std::make_unique<detail::publish_keys>(*options.redis, options.dedup_window, *stream);
      hub.join_cluster(*stream, *sessions, *publish_keys);  // now, before a topic's observer can fan out
    }
  }

  void start();
  void stop();
  void accept();
  void sweep();
  std::vector<std::shared_ptr<connection>> open_connections();

  const server_options options;
  const std::string run_id;  // in every message id: ids of two runs never meet
  server_counters counters;
  class hub hub;
  // Several nodes: the cluster's events. After hub: its reader delivers
  // into the hub, so it stops first.
  std::unique_ptr<event_stream> stream;
  std::unique_ptr<redis_sessions> sessions;            // writes through stream
  std::unique_ptr<detail::publish_keys> publish_keys;  // writes through stream
  std::optional<asio::ssl::context> ssl;               // set: every connection is TLS
  asio::io_context& io;
  const bool own_threads;  // false: the application runs io
  tcp::acceptor acceptor;
  std::optional<asio::steady_timer> sweeper;
  std::vector<std::thread> threads;
  std::atomic<bool> started{false};
  std::atomic<std::uint16_t> bound_port{0};  // the port listened on, for the metrics' labels
  std::atomic<bool> stopped{false};

  std::mutex connections_mutex;  // guards connections
  std::vector<std::weak_ptr<connection>> connections;
};

void server_impl::start() {
  if (stream) {
    stream->start();  // first: a node that cannot reach Redis does not serve
    hub.cluster_starts_at(stream->started_at());
  }
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
  bound_port = acceptor.local_endpoint().port();
  hub.seal();
  sweeper.emplace(io);
  sweep();
  accept();
  started = true;
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
          counters.connection_opened();
          const connection_services services{options, hub, counters};
          std::shared_ptr<connection> fresh;
          if (ssl) {
            auto secure = std::make_shared<stream_connection<beast::ssl_stream<beast::tcp_stream>>>(
                self, services, std::move(socket), *ssl);
            secure->run();
            fresh = std::move(secure);
          } else {
            auto plain =
                std::make_shared<stream_connection<beast::tcp_stream>>(self, services, std::move(socket));
            plain->run();
            fresh = std::move(plain);
          }
          std::lock_guard lock(connections_mutex);
          std::erase_if(connections, [](const std::weak_ptr<connection>& each) { return each.expired(); });
          connections.push_back(fresh);
        }
        accept();
      });
}

void server_impl::sweep() {
  hub.sweep(std::chrono::steady_clock::now());
  // Several nodes: a sweep also writes the sessions' checkpoints, so more often.
  const std::chrono::milliseconds longest = stream ? std::chrono::milliseconds(200) : std::chrono::seconds(1);
  sweeper->expires_after(
      std::min<std::chrono::milliseconds>(options.session_ttl / 4 + std::chrono::milliseconds(1), longest));
  sweeper->async_wait([this, self = shared_from_this()](beast::error_code ec) {
    if (!ec) sweep();
  });
}

std::vector<std::shared_ptr<connection>> server_impl::open_connections() {
  std::vector<std::shared_ptr<connection>> open;
  std::lock_guard lock(connections_mutex);
  for (auto& each : connections) {
    if (auto alive = each.lock()) open.push_back(std::move(alive));
  }
  return open;
}

void server_impl::stop() {
  if (stopped.exchange(true)) return;
  hub.stop_publishers();
  if (!started) return;
  asio::post(io, [this, self = shared_from_this()] {
    beast::error_code ignored;
    acceptor.close(ignored);
    if (sweeper) sweeper->cancel();
  });
  for (auto& each : open_connections()) each->going_away();
  // Connections close within about a second (close handshake, then drop).
  // On the application's io_context, called from one of its handlers, this
  // cannot wait: the closes finish after it returns (they hold this object).
  if (!own_threads && io.get_executor().running_in_this_thread()) return;
  counters.changed.wait([this] { return counters.connections.load() == 0; }, std::chrono::seconds(3));
  if (stream) {
    // What was published here before the stop reaches the other nodes.
    stream->flush(options.redis->timeout);
    stream->stop();
  }
  if (!own_threads) return;
  io.stop();
  for (auto& thread : threads) thread.join();
  threads.clear();
}

}  // namespace detail

namespace asio = boost::asio;

// --- server ------------------------------------------------------------------

server::server(courier::bus& bus, server_options options)
    : bus_(bus), own_io_(std::make_unique<asio::io_context>()) {
  impl_ = std::make_shared<detail::server_impl>(*own_io_, true, std::move(options));
  check_options();
  report_metrics();
}

server::server(courier::bus& bus, boost::asio::io_context& io, server_options options) : bus_(bus) {
  impl_ = std::make_shared<detail::server_impl>(io, false, std::move(options));
  check_options();
  report_metrics();
}

// The server's figures, read at scrape time from the counts it keeps anyway.
void server::report_metrics() {
  if (!impl_->options.metrics) return;
  metrics_ = impl_->options.metrics->add([this](metric_set& out) {
    const server_stats now = stats();
    const std::vector<std::pair<std::string, std::string>> labels = {
        {"messaging_system", "courier"},
        {"server_address", impl_->options.host},
        {"server_port",
         std::to_string(impl_->bound_port != 0 ? impl_->bound_port.load() : impl_->options.port)}};
    const metric_set::labelled add(out, labels);
    add("courier_ws_connections", metric_type::gauge,
        "Connections open: WebSocket clients, and HTTP requests being answered (a scrape counts itself).",
        static_cast<double>(now.connections));
    add("courier_ws_sessions", metric_type::gauge, "Sessions kept, connected or waiting for a resume.",
        static_cast<double>(now.sessions));
    add("courier_ws_events_sent_total", metric_type::counter, "Event frames sent to clients.",
        static_cast<double>(now.events_sent));
    add("courier_ws_unacked_events", metric_type::gauge,
        "Events queued in sessions, sent or not, and not yet acked by their client.",
        static_cast<double>(now.unacked));
    add("courier_ws_slow_consumers_total", metric_type::counter,
        "Times a session was cut off as too slow (slow_consumer; the session is kept for a resume).",
        static_cast<double>(now.slow_consumers));
    for (std::size_t i = 0; i < now.error_frames.size(); ++i) {
      auto by_code = labels;
      by_code.emplace_back("code", std::string(detail::error_table[i].name));
      out.add("courier_ws_error_frames_total", metric_type::counter,
              "Error frames sent, by code (docs/protocol.md): bad input, limits, slow consumers.", by_code,
              static_cast<double>(now.error_frames[i]));
    }
    // A snapshot over the sessions now, not a count of observations: read
    // it as a gauge (no rate()).
    metric_sample unacked{.labels = labels};
    for (std::size_t i = 0; i < server_stats::unacked_bounds.size(); ++i) {
      unacked.buckets.emplace_back(static_cast<double>(server_stats::unacked_bounds[i]),
                                   now.sessions_by_unacked[i]);
    }
    unacked.count = now.sessions;
    unacked.sum = static_cast<double>(now.unacked);
    out.add("courier_ws_session_unacked_events", metric_type::histogram,
            "Sessions by the events they hold unacked, now (a snapshot: +Inf counts every session).",
            std::move(unacked));
  });
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
  metrics_.reset();  // first: a scrape in progress reads this server
  stop();
  // Handlers still in flight may hold the implementation a while (see
  // server_impl); what they could reach of this object goes now.
  impl_->hub.release_publishers();
}

std::size_t server::add_topic(const std::string& name, const topic_options& options) {
  return impl_->hub.add_topic(name, options);
}

void server::set_topic(std::size_t index, subscription observer,
                       std::unique_ptr<detail::topic_base> handler) {
  impl_->hub.set_topic(index, std::move(observer), std::move(handler));
}

void server::fan_out(std::size_t topic, std::string data, const detail::client_origin* origin) {
  // The trace of the work publishing it: a traced message's handler, a
  // client's traced publish, or the application's own trace_scope.
  impl_->hub.fan_out(topic, std::move(data), origin, current_trace());
}

std::string server::publish_id_prefix(std::size_t topic) const {
  return fmt::format("{}.t{}.", impl_->run_id, topic);
}

void server::start() {
  if (impl_->started || impl_->stopped)
    throw error(errc::invalid_option, "ws::server::start(): started before");
  impl_->start();
}

std::uint16_t server::port() const { return impl_->acceptor.local_endpoint().port(); }

void server::stop() {
  impl_->stop();
  // The bus observers go before the topics' channels they may be fed from.
  impl_->hub.disconnect_observers();
}

void server::drop_connections() {
  for (auto& each : impl_->open_connections()) each->drop();
}

server_stats server::stats() const {
  const auto snapshot = impl_->hub.unacked_by_session(server_stats::unacked_bounds);
  server_stats out{.connections = impl_->counters.connections.load(),
                   .sessions = snapshot.sessions,
                   .events_sent = impl_->hub.events_sent(),
                   .unacked = snapshot.unacked,
                   .frames_refused = impl_->counters.frames_refused.load(),
                   .slow_consumers = impl_->hub.slow_consumers(),
                   .sessions_by_unacked = snapshot.at_most};
  for (std::size_t i = 0; i < out.error_frames.size(); ++i) {
    out.error_frames[i] = impl_->counters.error_frames[i].load(std::memory_order_relaxed);
  }
  return out;
}

bool server::wait_for_stats(const std::function<bool(const server_stats&)>& condition,
                            std::chrono::milliseconds timeout) const {
  return impl_->counters.changed.wait([&] { return condition(stats()); }, timeout);
}

const server_options& server::options() const { return impl_->options; }

}  // namespace ws
}  // namespace v1
}  // namespace courier
