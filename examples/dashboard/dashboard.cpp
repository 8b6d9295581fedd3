// The parcel dashboard: a courier::ws::server that shows parcel deliveries
// to browsers (index.html, served by the same server) with acks and resume,
// and takes pickups from them. Pickups wait in a courier::channel for the
// driver (a consumer that takes 20 ms a pickup, and whose first try at
// every fourth parcel fails, so it is redelivered); the page shows that
// queue's depth and redeliveries live from GET /metrics.
//
//   dashboard [--port N] [--page FILE] [--state-dir DIR] [--tls-cert PEM --tls-key PEM]
//             [--redis HOST:PORT [--redis-prefix P]]
//
// With --redis, it is one node of a cluster (docs/websocket.md, "Several
// nodes"): dashboards on the same Redis and prefix share their events and
// their clients' sessions, so a page whose node dies resumes on another.
//
// Open http://127.0.0.1:PORT/ in a browser (https:// with --tls-cert and
// --tls-key: the page, the control paths and the WebSocket are then TLS). The control paths drive demos
// and tests:
//   GET /control/publish?count=N&gap_us=U  publishes N parcel.delivered events, U us apart
//   GET /control/drop                      drops every connection (clients resume)
//   GET /control/stats                     {"connections":..,"sessions":..,"unacked":..,"published":..}
//   GET /control/pickups?count=N           queues N pickups (parcels 0..N-1) for the driver
//   GET /metrics                           the Prometheus exposition (server, pickups channel)
// With --state-dir, the port is written to DIR/port once the server listens.
#include <courier/bus.hpp>
#include <courier/channel.hpp>
#include <courier/metrics.hpp>
#include <courier/ws/server.hpp>

#include <fmt/format.h>
#include <boost/describe.hpp>

#include <atomic>
#include <charconv>
#include <csignal>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#ifndef COURIER_DASHBOARD_PAGE
#define COURIER_DASHBOARD_PAGE "index.html"
#endif

namespace {

struct delivered {
  int parcel = 0;
  std::string vendor;
  std::string driver;
};
BOOST_DESCRIBE_STRUCT(delivered, (), (parcel, vendor, driver))

struct pickup {
  std::string vendor;
  int parcel = 0;
};
BOOST_DESCRIBE_STRUCT(pickup, (), (vendor, parcel))

std::atomic<bool> stop_requested{false};

// The value of name=... in a query string, or fallback.
long query_number(std::string_view target, std::string_view name, long fallback) {
  const auto query = target.find('?');
  if (query == std::string_view::npos) return fallback;
  std::string_view rest = target.substr(query + 1);
  while (!rest.empty()) {
    const auto amp = rest.find('&');
    const std::string_view pair = rest.substr(0, amp);
    if (pair.substr(0, name.size()) == name && pair.size() > name.size() && pair[name.size()] == '=') {
      long value = fallback;
      const auto text = pair.substr(name.size() + 1);
      std::from_chars(text.data(), text.data() + text.size(), value);
      return value;
    }
    rest = amp == std::string_view::npos ? std::string_view() : rest.substr(amp + 1);
  }
  return fallback;
}

}  // namespace

int main(int argc, char** argv) {
  std::uint16_t port = 8080;
  std::string page_file = COURIER_DASHBOARD_PAGE;
  std::string state_dir;
  std::optional<courier::ws::tls_options> tls;
  std::optional<courier::ws::redis_options> redis;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string_view flag = argv[i];
    if (flag == "--port") {
      port = static_cast<std::uint16_t>(std::stoi(argv[i + 1]));
    } else if (flag == "--page") {
      page_file = argv[i + 1];
    } else if (flag == "--state-dir") {
      state_dir = argv[i + 1];
    } else if (flag == "--tls-cert") {
      if (!tls) tls.emplace();
      tls->certificate_chain_file = argv[i + 1];
    } else if (flag == "--tls-key") {
      if (!tls) tls.emplace();
      tls->private_key_file = argv[i + 1];
    } else if (flag == "--redis") {
      const std::string_view where = argv[i + 1];
      const auto colon = where.rfind(':');
      if (!redis) redis.emplace();
      redis->host = std::string(where.substr(0, colon));
      if (colon != std::string_view::npos)
        redis->port = static_cast<std::uint16_t>(std::stoi(argv[i + 1] + colon + 1));
    } else if (flag == "--redis-prefix") {
      if (!redis) redis.emplace();
      redis->prefix = argv[i + 1];
    } else {
      fmt::print(stderr,
                 "usage: dashboard [--port N] [--page FILE] [--state-dir DIR] [--tls-cert PEM --tls-key PEM] "
                 "[--redis HOST:PORT [--redis-prefix P]]\n");
      return 2;
    }
  }
  std::ifstream page_in(page_file);
  if (!page_in) {
    fmt::print(stderr, "dashboard: cannot read the page {}\n", page_file);
    return 1;
  }
  std::stringstream page;
  page << page_in.rdbuf();

  courier::bus bus;
  auto metrics = std::make_shared<courier::metrics_registry>();
  courier::channel<pickup> pickups({.max_receives = 5, .metrics = metrics, .name = "pickups"});
  std::atomic<int> published{0};
  std::vector<std::thread> publishers;
  std::unique_ptr<courier::ws::server> server;
  server = std::make_unique<courier::ws::server>(
      bus,
      courier::ws::server_options{
          .port = port,
          .tls = tls,
          .pages = [&](std::string_view target) -> std::optional<courier::ws::http_page> {
            const std::string_view path = target.substr(0, target.find('?'));  // the page reads its own query
            if (path == "/" || path == "/index.html") return courier::ws::http_page{.body = page.str()};
            if (target.rfind("/control/publish", 0) == 0) {
              const long count = query_number(target, "count", 100);
              const long gap_us = query_number(target, "gap_us", 1000);
              publishers.emplace_back([&bus, &published, count, gap_us] {
                for (long i = 0; i < count && !stop_requested; ++i) {
                  const int number = published.fetch_add(1);
                  bus.publish(delivered{number, "acme", "dana"});
                  std::this_thread::sleep_for(std::chrono::microseconds(gap_us));
                }
              });
              return courier::ws::http_page{.content_type = "application/json",
                                            .body = fmt::format(R"({{"publishing":{}}})", count)};
            }
            if (target.rfind("/control/pickups", 0) == 0) {
              const long count = query_number(target, "count", 10);
              for (long i = 0; i < count; ++i) pickups.send(pickup{"acme", static_cast<int>(i)});
              return courier::ws::http_page{.content_type = "application/json",
                                            .body = fmt::format(R"({{"queued":{}}})", count)};
            }
            if (target == "/control/drop") {
              server->drop_connections();
              return courier::ws::http_page{.content_type = "application/json",
                                            .body = R"({"dropped":true})"};
            }
            if (target == "/control/stats") {
              const auto stats = server->stats();
              return courier::ws::http_page{
                  .content_type = "application/json",
                  .body = fmt::format(
                      R"({{"connections":{},"sessions":{},"unacked":{},"events_sent":{},"published":{}}})",
                      stats.connections, stats.sessions, stats.unacked, stats.events_sent, published.load())};
            }
            return std::nullopt;
          },
          .metrics = metrics,
          .redis = redis,
      });
  server->topic<delivered>("parcel.delivered");
  server->topic<pickup>("pickup", {.publish = true, .fifo = true});
  // Pickups from browsers wait for the driver in the channel.
  auto to_driver = bus.subscribe<pickup>([&](const pickup& p) { pickups.send(p); });
  // The driver: 20 ms a pickup; the first try at every fourth parcel fails
  // (the throw nacks it: it comes again). Each pickup done is a delivery.
  auto driver = pickups.consume(
      [&](courier::delivery<pickup>& job) {
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
        if (job.message().parcel % 4 == 0 && job.receive_count() == 1) {
          throw std::runtime_error("the van would not start");
        }
        published.fetch_add(1);
        bus.publish(delivered{job.message().parcel, job.message().vendor, "dana"});
      },
      {}, [](courier::message_id, std::exception_ptr) {});  // a failed try is expected here: no log line
  try {
    server->start();
  } catch (const std::exception& e) {
    fmt::print(stderr, "dashboard: {}\n", e.what());
    return 1;
  }
  fmt::print("dashboard: http://127.0.0.1:{}/\n", server->port());
  std::fflush(stdout);
  if (!state_dir.empty()) {
    std::filesystem::create_directories(state_dir);
    std::ofstream(std::filesystem::path(state_dir) / "port.tmp") << server->port() << "\n";
    std::filesystem::rename(std::filesystem::path(state_dir) / "port.tmp",
                            std::filesystem::path(state_dir) / "port");
  }
  std::signal(SIGTERM, [](int) { stop_requested = true; });
  std::signal(SIGINT, [](int) { stop_requested = true; });
  while (!stop_requested) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  driver.stop();
  server->stop();
  for (auto& each : publishers) each.join();
  return 0;
}
