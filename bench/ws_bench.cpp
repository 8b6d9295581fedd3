// courier_ws_bench: events fanned out over WebSocket on loopback, acked by
// every client; courier::ws::server beside a Node `ws` server doing the same
// work (ws_bench_node_server.mjs), in one run, for 1, 10 and 100 clients.
//
//   courier_ws_bench [--events N] [--clients 1,10,100] [--rounds R] [--servers both|courier|node] [--tls]
//                    [--nodes N --store redis]
//
// --nodes N --store redis: a cluster. N courier servers sharing one
// redis-server (started by the benchmark with tests/redis/redis.sh: AOF,
// appendfsync always), the clients spread over the nodes in turn, the events
// published on the first node's bus; beside it, N Socket.IO 4 nodes with
// @socket.io/redis-streams-adapter and connection state recovery on the same
// redis-server, the same clients' work in Node (ws_bench_socketio.mjs).
//
// --tls: both servers serve wss:// with a throwaway certificate (made with
// the openssl command) and the clients speak TLS, checking it.
//
// The clients are the same for both servers: raw Beast connections on one
// thread of this process, speaking courier.v1: hello, subscribe, and a
// cumulative ack every 16 events. The publisher stays at most 1,000 events
// ahead of the slowest client's acks (both servers), and each session has a
// window of 256 events in flight. Reported per server and client count:
// acked events per second (events x clients, from the first event a client
// got to the last ack), and the latency from publish (a monotonic timestamp
// in the event) to the ack that covers it, as the client sends it (the
// server gets it one loopback hop later): p50, p99.
#include "peer_process.hpp"

#include "courier/bus.hpp"
#include "courier/ws/server.hpp"

#include <fmt/format.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>
#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/ssl.hpp>
#include <boost/beast/websocket.hpp>
#include <boost/json.hpp>

#include <algorithm>
#include <atomic>
#include <charconv>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace websocket = beast::websocket;
using tcp = asio::ip::tcp;
using namespace std::chrono_literals;

constexpr std::uint64_t ack_every = 16;
constexpr std::uint64_t publisher_lead = 1000;

// The courier publisher sleeps until acks move instead of spinning, which
// would take a core from the server (std::atomic::wait spins and yields
// first, and acks come every few microseconds: it never slept). It waits for
// the slowest client; a client wakes it only with the ack that crosses the
// point waited for, so the other clients' acks cost the clients' thread no
// futex wake (each one did, ~9% of that thread in a --tls run at 10
// clients, which the Node rounds, whose publisher runs inside the server,
// never paid).
struct ack_signal {
  std::mutex mutex;
  std::condition_variable moved;
  std::atomic<bool> waiting{false};
  std::atomic<std::uint64_t> wake_at{0};  // the ack that may end the wait

  // A client's ack moved from before to now (seq_cst with wait_until's
  // stores: either the client sees the waiter, or the waiter's check sees
  // the ack).
  void notify(std::uint64_t before, std::uint64_t now) {
    if (!waiting.load()) return;
    const std::uint64_t target = wake_at.load();
    if (before >= target || now < target) return;  // another client's crossing ends it
    std::lock_guard lock(mutex);
    moved.notify_one();
  }
  // Sleeps until ready() (which reads atomics only) holds; ready() can only
  // start to hold once the slowest client's ack reaches target.
  template <class Ready>
  void wait_until(std::uint64_t target, Ready&& ready) {
    if (ready()) return;
    std::unique_lock lock(mutex);
    wake_at = target;
    waiting = true;
    moved.wait(lock, ready);  // rechecked after waiting is set: no wakeup is lost
    waiting = false;
  }
};
ack_signal acks_moved;

std::int64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

struct tick {
  std::uint64_t n = 0;
  std::int64_t t = 0;
};
BOOST_DESCRIBE_STRUCT(tick, (), (n, t))

// One benchmark client: subscribes to "tick", acks every ack_every events.
// Transport: beast::tcp_stream, or beast::ssl_stream over it (--tls).
template <class Transport>
class load_client : public std::enable_shared_from_this<load_client<Transport>> {
 public:
  template <class... TransportArgs>
  load_client(std::uint64_t events, TransportArgs&&... transport_args)
      : ws_(std::forward<TransportArgs>(transport_args)...), events_(events) {}

  void start(std::uint16_t port) {
    beast::get_lowest_layer(ws_).async_connect(
        tcp::endpoint(asio::ip::make_address("127.0.0.1"), port),
        [self = this->shared_from_this()](beast::error_code ec) {
          if (ec) return self->fail("connect", ec);
          beast::error_code ignored;
          beast::get_lowest_layer(self->ws_).socket().set_option(tcp::no_delay(true), ignored);
          if constexpr (std::is_same_v<Transport, beast::tcp_stream>) {
            self->upgrade();
          } else {
            self->ws_.next_layer().async_handshake(asio::ssl::stream_base::client,
                                                   [self](beast::error_code tls_error) {
                                                     if (tls_error)
                                                       return self->fail("TLS handshake", tls_error);
                                                     self->upgrade();
                                                   });
          }
        });
  }

  std::atomic<std::uint64_t> acked{0};
  std::atomic<bool> subscribed{false};
  std::atomic<bool> failed{false};
  std::atomic<std::int64_t> first_event_ns{0};
  std::atomic<std::int64_t> done_ns{0};
  std::vector<std::int64_t> latencies;  // read after the io thread stopped

 private:
  void upgrade() {
    ws_.set_option(websocket::stream_base::decorator([](websocket::request_type& request) {
      request.set(beast::http::field::sec_websocket_protocol, "courier.v1");
    }));
    ws_.async_handshake("127.0.0.1", "/courier", [self = this->shared_from_this()](beast::error_code ec) {
      if (ec) return self->fail("handshake", ec);
      self->write(R"({"op":"hello","client":"bench"})");
      self->read();
    });
  }

  void read() {
    ws_.async_read(buffer_, [self = this->shared_from_this()](beast::error_code ec, std::size_t) {
      if (ec) {
        if (self->done_ns == 0) self->fail("read", ec);
        return;
      }
      const auto data = self->buffer_.cdata();
      self->handle(std::string_view(static_cast<const char*>(data.data()), data.size()));
      self->buffer_.consume(self->buffer_.size());
      self->read();
    });
  }

  // Every frame is parsed whole, as a client must; the parse's memory is
  // one buffer used again for each frame, as a client reading thousands of
  // events a second would keep it.
  void handle(std::string_view text) {
    boost::json::monotonic_resource memory(parse_buffer_, sizeof parse_buffer_);
    const boost::json::value parsed = boost::json::parse(text, &memory);
    const auto& frame = parsed.as_object();
    const auto& op = frame.at("op").as_string();
    if (op == "welcome") return write(R"({"op":"subscribe","topics":["tick"]})");
    if (op == "subscribed") {
      subscribed = true;
      return;
    }
    if (op != "event") return;
    if (first_event_ns == 0) first_event_ns = now_ns();
    const std::uint64_t seq = static_cast<std::uint64_t>(frame.at("seq").as_int64());
    pending_.push_back(frame.at("data").as_object().at("t").as_int64());
    last_seq_ = std::max(last_seq_, seq);
    if (pending_.size() >= ack_every || last_seq_ >= events_) {
      const std::int64_t sent = now_ns();
      for (std::int64_t published : pending_) latencies.push_back(sent - published);
      pending_.clear();
      write(fmt::format(R"({{"op":"ack","upto":{}}})", last_seq_));
      const std::uint64_t before = acked.load();
      acked = last_seq_;
      acks_moved.notify(before, last_seq_);
      if (last_seq_ >= events_ && done_ns == 0) done_ns = now_ns();
    }
  }

  void write(std::string text) {
    outbox_.push_back(std::move(text));
    if (outbox_.size() == 1) write_next();
  }
  void write_next() {
    ws_.text(true);
    ws_.async_write(asio::buffer(outbox_.front()),
                    [self = this->shared_from_this()](beast::error_code ec, std::size_t) {
                      if (ec) return self->fail("write", ec);
                      self->outbox_.pop_front();
                      if (!self->outbox_.empty()) self->write_next();
                    });
  }

  void fail(const char* what, beast::error_code ec) {
    if (!failed.exchange(true)) fmt::print(stderr, "ws bench client: {}: {}\n", what, ec.message());
  }

  websocket::stream<Transport> ws_;
  beast::flat_buffer buffer_;
  std::deque<std::string> outbox_;
  std::uint64_t events_;
  std::uint64_t last_seq_ = 0;
  std::vector<std::int64_t> pending_;
  alignas(std::max_align_t) unsigned char parse_buffer_[4096];
};

struct figures {
  double acked_per_second = 0;
  double p50_us = 0;
  double p99_us = 0;
};

// The certificate of a --tls run: made once, trusted by the clients.
struct tls_files {
  std::filesystem::path dir;
  std::string certificate() const { return (dir / "cert.pem").string(); }
  std::string key() const { return (dir / "key.pem").string(); }
};
std::optional<tls_files> tls;

// Connects clients to port, calls publish(clients) once all are subscribed,
// waits until every client acked every event, returns the figures.
template <class Transport, class Publish>
figures run_clients_on(const std::vector<std::uint16_t>& ports, std::size_t count, std::uint64_t events,
                       Publish&& publish) {
  asio::io_context io;
  std::optional<asio::ssl::context> context;
  std::vector<std::shared_ptr<load_client<Transport>>> clients;
  for (std::size_t i = 0; i < count; ++i) {
    if constexpr (std::is_same_v<Transport, beast::tcp_stream>) {
      clients.push_back(std::make_shared<load_client<Transport>>(events, io));
    } else {
      if (!context) {
        context.emplace(asio::ssl::context::tls_client);
        context->load_verify_file(tls->certificate());
        context->set_verify_mode(asio::ssl::verify_peer);
      }
      clients.push_back(std::make_shared<load_client<Transport>>(events, io, *context));
    }
    clients.back()->start(ports[i % ports.size()]);  // several nodes: in turn
  }
  std::thread runner([&] { io.run(); });
  const auto give_up = std::chrono::steady_clock::now() + 120s;
  auto all = [&](auto&& condition) {
    return std::all_of(clients.begin(), clients.end(), [&](const auto& each) { return condition(*each); });
  };
  while (!all([](const auto& c) { return c.subscribed.load() || c.failed.load(); }) &&
         std::chrono::steady_clock::now() < give_up) {
    std::this_thread::sleep_for(1ms);
  }
  publish(clients);
  while (!all([&](const auto& c) { return c.acked.load() >= events || c.failed.load(); }) &&
         std::chrono::steady_clock::now() < give_up) {
    std::this_thread::sleep_for(1ms);
  }
  io.stop();
  runner.join();
  figures out;
  std::int64_t first = INT64_MAX;
  std::int64_t last = 0;
  std::vector<std::int64_t> latencies;
  for (const auto& each : clients) {
    if (each->failed || each->acked < events) {
      fmt::print(stderr, "ws bench: a client did not get every event ({} of {})\n", each->acked.load(),
                 events);
      std::exit(1);
    }
    first = std::min<std::int64_t>(first, each->first_event_ns);
    last = std::max<std::int64_t>(last, each->done_ns);
    latencies.insert(latencies.end(), each->latencies.begin(), each->latencies.end());
  }
  out.acked_per_second = static_cast<double>(events * count) / (static_cast<double>(last - first) / 1e9);
  std::sort(latencies.begin(), latencies.end());
  out.p50_us = static_cast<double>(latencies[latencies.size() / 2]) / 1000;
  out.p99_us = static_cast<double>(latencies[latencies.size() * 99 / 100]) / 1000;
  return out;
}

template <class Publish>
figures run_clients(const std::vector<std::uint16_t>& ports, std::size_t count, std::uint64_t events,
                    Publish&& publish) {
  if (tls) return run_clients_on<beast::ssl_stream<beast::tcp_stream>>(ports, count, events, publish);
  return run_clients_on<beast::tcp_stream>(ports, count, events, publish);
}

figures run_courier(std::size_t clients, std::uint64_t events) {
  courier::bus bus;
  // The defaults guard a server from misbehaving clients (1,000 frames/s
  // each, 10,000 queued events); a benchmark's clients ack thousands of
  // times a second and are trusted, as the Node baseline trusts its own.
  std::optional<courier::ws::tls_options> server_tls;
  if (tls)
    server_tls = courier::ws::tls_options{.certificate_chain_file = tls->certificate(),
                                          .private_key_file = tls->key()};
  courier::ws::server server(bus, {.tls = server_tls,
                                   .rate = 10'000'000,
                                   .window = 256,
                                   .slow_after = 1'000'000,
                                   .max_queued = 1'000'000});
  server.topic<tick>("tick");
  server.start();
  return run_clients({server.port()}, clients, events, [&](const auto& connected) {
    // At most publisher_lead events ahead of the slowest client's acks.
    for (std::uint64_t n = 0; n < events; ++n) {
      acks_moved.wait_until(n - std::min(n, publisher_lead) + 1, [&] {
        std::uint64_t slowest = UINT64_MAX;
        for (const auto& each : connected) slowest = std::min<std::uint64_t>(slowest, each->acked.load());
        return n - std::min(n, slowest) < publisher_lead;
      });
      bus.publish(tick{n, now_ns()});
    }
  });
}

figures run_node(const std::string& script, std::size_t clients, std::uint64_t events) {
  const auto port_file =
      std::filesystem::temp_directory_path() / fmt::format("courier_ws_bench_{}.port", ::getpid());
  std::filesystem::remove(port_file);
  const pid_t child = ::fork();
  if (child == 0) {
    const std::string count = std::to_string(clients);
    const std::string total = std::to_string(events);
    if (tls) {
      ::execlp("node", "node", script.c_str(), port_file.c_str(), count.c_str(), total.c_str(),
               tls->certificate().c_str(), tls->key().c_str(), nullptr);
    } else {
      ::execlp("node", "node", script.c_str(), port_file.c_str(), count.c_str(), total.c_str(), nullptr);
    }
    std::perror("node");
    ::_exit(127);
  }
  std::uint16_t port = 0;
  for (int i = 0; i < 200 && port == 0; ++i) {
    std::this_thread::sleep_for(25ms);
    std::ifstream in(port_file);
    in >> port;
  }
  if (port == 0) {
    fmt::print(stderr,
               "ws bench: the Node server did not start (is `ws` installed? bash scripts/setup.sh)\n");
    ::kill(child, SIGKILL);
    std::exit(1);
  }
  const figures out = run_clients({port}, clients, events, [](const auto&) {});  // it publishes by itself
  int status = 0;
  ::waitpid(child, &status, 0);
  std::filesystem::remove(port_file);
  return out;
}

// A cluster: nodes courier servers on one Redis (a prefix of this run's
// own), the clients spread over them, the events published on the first.
figures run_courier_cluster(std::size_t clients, std::uint64_t events, std::size_t nodes,
                            std::uint16_t redis_port) {
  static int run = 0;
  const std::string prefix = fmt::format("courier-bench-{}-{}", ::getpid(), ++run);
  std::vector<std::unique_ptr<courier::bus>> buses;
  std::vector<std::unique_ptr<courier::ws::server>> servers;
  std::vector<std::uint16_t> ports;
  for (std::size_t i = 0; i < nodes; ++i) {
    buses.push_back(std::make_unique<courier::bus>());
    courier::ws::server_options options{
        .rate = 10'000'000, .window = 256, .slow_after = 1'000'000, .max_queued = 1'000'000};
    options.redis = courier::ws::redis_options{.port = redis_port, .prefix = prefix};
    servers.push_back(std::make_unique<courier::ws::server>(*buses.back(), options));
    servers.back()->topic<tick>("tick");
    servers.back()->start();
    ports.push_back(servers.back()->port());
  }
  return run_clients(ports, clients, events, [&](const auto& connected) {
    for (std::uint64_t n = 0; n < events; ++n) {
      acks_moved.wait_until(n - std::min(n, publisher_lead) + 1, [&] {
        std::uint64_t slowest = UINT64_MAX;
        for (const auto& each : connected) slowest = std::min<std::uint64_t>(slowest, each->acked.load());
        return n - std::min(n, slowest) < publisher_lead;
      });
      buses.front()->publish(tick{n, now_ns()});
    }
  });
}

// The same on Socket.IO (ws_bench_socketio.mjs prints its figures as JSON).
figures run_socketio_cluster(std::size_t clients, std::uint64_t events, std::size_t nodes,
                             std::uint16_t redis_port) {
  const std::string printed = courier_bench::run(
      fmt::format("node '{}' {} {} {} {}", COURIER_WS_BENCH_SOCKETIO, redis_port, clients, events, nodes));
  const auto line = printed.substr(printed.rfind('{'));
  const auto parsed = boost::json::parse(line).as_object();
  return {parsed.at("acked_per_second").to_number<double>(), parsed.at("p50_us").to_number<double>(),
          parsed.at("p99_us").to_number<double>()};
}

// The table: for each client count, rounds of courier and the peer in
// turn, the median of each by acked events/s, and their ratio.
template <class RunCourier, class RunPeer>
void print_comparison(const std::string& peer, const std::vector<std::size_t>& client_counts, int rounds,
                      RunCourier&& run_courier_side, RunPeer&& run_peer_side) {
  fmt::print("{:>8} {:>16} {:>10} {:>10} {:>18} {:>10} {:>10} {:>8}\n", "clients", "courier acked/s",
             "p50 us", "p99 us", peer + " acked/s", "p50 us", "p99 us", "ratio");
  auto median = [](std::vector<figures> runs) {
    std::sort(runs.begin(), runs.end(),
              [](const figures& a, const figures& b) { return a.acked_per_second < b.acked_per_second; });
    return runs[runs.size() / 2];
  };
  for (std::size_t clients : client_counts) {
    std::vector<figures> courier_runs;
    std::vector<figures> peer_runs;
    for (int round = 0; round < rounds; ++round) {
      courier_runs.push_back(run_courier_side(clients));
      peer_runs.push_back(run_peer_side(clients));
    }
    const figures c = median(courier_runs);
    const figures n = median(peer_runs);
    fmt::print("{:>8} {:>16.0f} {:>10.0f} {:>10.0f} {:>18.0f} {:>10.0f} {:>10.0f} {:>7.2f}x\n", clients,
               c.acked_per_second, c.p50_us, c.p99_us, n.acked_per_second, n.p50_us, n.p99_us,
               c.acked_per_second / n.acked_per_second);
    std::fflush(stdout);
  }
}

}  // namespace

int main(int argc, char** argv) {
  std::uint64_t events = 20'000;
  std::vector<std::size_t> client_counts = {1, 10, 100};
  int rounds = 3;
  std::string servers = "both";  // or courier, node (to profile one)
  std::size_t nodes = 1;
  std::string store = "memory";
  constexpr const char* usage =
      "usage: courier_ws_bench [--events N] [--clients 1,10,100] [--rounds R] [--servers both|courier|node] "
      "[--tls] "
      "[--nodes N --store redis]\n";
  for (int i = 1; i < argc; ++i) {
    const std::string_view flag = argv[i];
    if (flag == "--tls") {
      tls.emplace();
      continue;
    }
    if (i + 1 >= argc) {
      fmt::print(stderr, "{}", usage);
      return 2;
    }
    const std::string_view value = argv[++i];
    if (flag == "--events") {
      events = std::stoull(std::string(value));
    } else if (flag == "--servers") {
      servers = std::string(value);
    } else if (flag == "--nodes") {
      nodes = std::stoul(std::string(value));
    } else if (flag == "--store") {
      store = std::string(value);
    } else if (flag == "--rounds") {
      rounds = std::stoi(std::string(value));
    } else if (flag == "--clients") {
      client_counts.clear();
      for (std::string_view rest = value; !rest.empty();) {
        const auto comma = rest.find(',');
        client_counts.push_back(std::stoul(std::string(rest.substr(0, comma))));
        rest = comma == std::string_view::npos ? std::string_view() : rest.substr(comma + 1);
      }
    } else {
      fmt::print(stderr, "{}", usage);
      return 2;
    }
  }
  if (tls) {
    tls->dir = std::filesystem::temp_directory_path() / fmt::format("courier_ws_bench_tls_{}", ::getpid());
    std::filesystem::create_directories(tls->dir);
    const std::string command = fmt::format(
        "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 -subj "
        "/CN=localhost "
        "-addext subjectAltName=DNS:localhost,IP:127.0.0.1 -keyout '{}' -out '{}' 2>/dev/null",
        tls->key(), tls->certificate());
    if (std::system(command.c_str()) != 0) {
      fmt::print(stderr,
                 "ws bench: openssl could not make a certificate (bash scripts/setup.sh installs it)\n");
      return 1;
    }
  }
  const std::string script = COURIER_WS_BENCH_NODE_SERVER;
  ::setenv("COURIER_WS_PEERS", COURIER_WS_PEERS, 0);
  if (store == "redis") {
    if (tls) {
      fmt::print(stderr, "ws bench: a cluster run is plain ws:// only\n");
      return 2;
    }
    const courier_bench::fixture_server redis(COURIER_REDIS_FIXTURE, "courier_ws_bench_redis");
    const auto redis_port = static_cast<std::uint16_t>(std::stoi(redis.read("port")));
    fmt::print(
        "WebSocket fan-out across {} nodes on one Redis (AOF, appendfsync always), loopback: {} events to "
        "each client, acked; {} rounds alternating\n",
        nodes, events, rounds);
    print_comparison(
        "socket.io", client_counts, rounds,
        [&](std::size_t clients) {
          return servers != "node" ? run_courier_cluster(clients, events, nodes, redis_port)
                                   : figures{1, 0, 0};
        },
        [&](std::size_t clients) {
          return servers != "courier" ? run_socketio_cluster(clients, events, nodes, redis_port)
                                      : figures{1, 0, 0};
        });
    return 0;
  }
  fmt::print("WebSocket fan-out on loopback{}: {} events to each client, acked; {} rounds alternating\n",
             tls ? " over TLS" : "", events, rounds);
  print_comparison(
      "node ws", client_counts, rounds,
      [&](std::size_t clients) {
        return servers != "node" ? run_courier(clients, events) : figures{1, 0, 0};
      },
      [&](std::size_t clients) {
        return servers != "courier" ? run_node(script, clients, events) : figures{1, 0, 0};
      });
  if (tls) std::filesystem::remove_all(tls->dir);
  return 0;
}
