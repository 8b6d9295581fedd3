// The parcel service, end to end: vendors ship parcels (some requests sent
// twice, as clients retry), drivers pick them up from a FIFO channel and
// publish in_transit and delivered on a bus, each vendor learns of each
// delivery (a delivery receipt in-process, the delivered event over SQS) and
// thanks the driver. At the end it checks what must hold: every parcel
// delivered exactly once, each vendor's parcels in the order shipped.
//
//   parcel_service [--parcels N] [--durable FILE] [--sqs URL] [--aws URL] [--ws PORT [--serve SECONDS]]
//
// In-process by default; --durable FILE keeps the dispatch channel in an
// SQLite store; --sqs URL runs the dispatch over an SQS FIFO queue (made and
// deleted by the run; moto_server or AWS); --aws URL runs vendors, hub and
// drivers as separate processes over an SNS topic, SQS queues and DynamoDB
// (parcel/over_aws.hpp; "" for AWS itself), where --kills N --seed S kills
// a driver process with SIGKILL N times at seeded moments and --keep yes
// leaves what the run made for a checker. --ws PORT also serves the
// dashboard page (examples/dashboard) on http://127.0.0.1:PORT/: deliveries
// show up in the browser as they happen, and pickups asked for on the page go
// through the same dispatch channel; it keeps serving for --serve SECONDS
// after the run (default: until interrupted). Exit 0 when everything held.
#include "parcel/parcel_service.hpp"
#include "parcel/logbook.hpp"
#include "parcel/over_aws.hpp"

#include <courier/sqlite/durable.hpp>
#include <courier/sqs/channel.hpp>
#include <courier/ws/server.hpp>

#include <fmt/format.h>
#include <unistd.h>

#include <atomic>
#include <charconv>
#include <chrono>
#include <condition_variable>
#include <csignal>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <sstream>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

namespace {

using namespace std::chrono_literals;
using namespace parcel_service;

const std::vector<std::string> vendors = {"acme", "bolt", "crate"};

#ifndef COURIER_DASHBOARD_PAGE
#define COURIER_DASHBOARD_PAGE "dashboard/index.html"
#endif

struct settings {
  int parcels = 20;  // per vendor
  std::string durable_file;
  std::string sqs_endpoint;
  std::optional<std::string> aws_endpoint;
  std::string role;  // a process of the --aws run (over_aws.hpp): hub, driver, vendor
  std::string run;
  std::string name;
  parcel_service::over_aws::faults chaos;
  std::optional<int> ws_port;
  int serve_seconds = -1;  // -1: until interrupted
};

std::atomic<bool> interrupted{false};

// The dashboard page on a WebSocket server for this bus: deliveries out,
// pickups in (shipped through orders like any vendor's).
std::unique_ptr<courier::ws::server> serve_dashboard(courier::bus& bus, int port) {
  std::ifstream in(COURIER_DASHBOARD_PAGE);
  std::stringstream page;
  page << in.rdbuf();
  auto server = std::make_unique<courier::ws::server>(
      bus,
      courier::ws::server_options{
          .port = static_cast<std::uint16_t>(port),
          .pages = [body = page.str()](std::string_view target) -> std::optional<courier::ws::http_page> {
            if (target == "/" || target == "/index.html") return courier::ws::http_page{.body = body};
            return std::nullopt;
          }});
  server->topic<delivered>("parcel.delivered");
  server->topic<pickup>("pickup", {.publish = true, .fifo = true});
  server->start();
  fmt::print("dashboard: http://127.0.0.1:{}/\n", server->port());
  std::fflush(stdout);
  return server;
}

// Every fourth parcel's request is sent twice: the vendor's first response
// got lost, so it retries with the same key.
bool retried(int parcel) { return parcel % 4 == 0; }

int run_in_process(const settings& chosen) {
  courier::bus bus;
  logbook book(bus);
  auto options = dispatch_options();
  if (!chosen.durable_file.empty()) {
    options.durable = courier::sqlite::durable<pickup>(chosen.durable_file);
    fmt::print("dispatch kept in {}\n", chosen.durable_file);
  }
  dispatch orders(std::move(options));
  std::unique_ptr<courier::ws::server> dashboard;
  courier::subscription page_pickups;
  if (chosen.ws_port) {
    dashboard = serve_dashboard(bus, *chosen.ws_port);
    // A pickup asked for on the page (already deduplicated by its key) is shipped.
    page_pickups = bus.subscribe<pickup>([&orders](const pickup& p) {
      orders.send(p, {.group = p.vendor, .idempotency_key = fmt::format("{}/{}", p.vendor, p.parcel)});
    });
  }
  driver dana("dana", bus);
  driver eli("eli", bus);
  auto dana_works = orders.consume(std::ref(dana));
  auto eli_works = orders.consume(std::ref(eli));

  std::vector<std::unique_ptr<vendor>> shops;
  for (const auto& name : vendors) shops.push_back(std::make_unique<vendor>(name, orders, bus));
  std::vector<courier::delivery_receipt> receipts;
  int duplicates = 0;
  for (int parcel = 1; parcel <= chosen.parcels; ++parcel) {
    for (auto& shop : shops) {
      receipts.push_back(shop->ship(parcel).receipt);
      if (retried(parcel) && shop->ship(parcel).duplicate) ++duplicates;
    }
  }
  fmt::print("shipped {} parcels from {} vendors; {} retried requests answered as duplicates\n",
             chosen.parcels * static_cast<int>(vendors.size()), vendors.size(), duplicates);
  int acked = 0;
  for (auto& receipt : receipts) {
    if (receipt.wait_for(30s) == courier::delivery_outcome::acked) ++acked;
  }
  fmt::print("delivery receipts: {} of {} acked\n", acked, receipts.size());
  const bool all_thanked = book.wait_for(receipts.size(), 30s);
  dana_works.stop();
  eli_works.stop();
  bus.drain();
  const bool held =
      book.report(vendors, chosen.parcels) && all_thanked && acked == static_cast<int>(receipts.size());
  fmt::print("{}\n", held ? "every parcel delivered once, in order" : "SOMETHING WENT WRONG");
  if (dashboard) {
    // Keep serving the page (and taking its pickups) for a while.
    dana_works = orders.consume(std::ref(dana));
    std::signal(SIGINT, [](int) { interrupted = true; });
    std::signal(SIGTERM, [](int) { interrupted = true; });
    const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(chosen.serve_seconds);
    while (!interrupted && (chosen.serve_seconds < 0 || std::chrono::steady_clock::now() < until)) {
      std::this_thread::sleep_for(50ms);
    }
    dashboard->stop();
    dana_works.stop();
  }
  return held ? 0 : 1;
}

int run_over_sqs(const settings& chosen) {
  courier::sqs::client sqs({.settings = {.endpoint = chosen.sqs_endpoint}, .connect_timeout = 2s});
  const std::string url = sqs.create_queue(fmt::format("parcel-service-{}.fifo", ::getpid()),
                                           {{"FifoQueue", "true"}, {"VisibilityTimeout", "5"}});
  fmt::print("dispatch over SQS: {}\n", url);
  int result = 1;
  try {
    courier::bus bus;
    logbook book(bus);
    // The drivers record what they applied, so an SQS redelivery is not a second delivery.
    courier::sqs::channel<pickup> orders(
        sqs, {.queue_url = url, .applied = std::make_shared<courier::memory_idempotent_store>()});
    driver dana("dana", bus);
    auto dana_works = orders.consume(std::ref(dana));
    // Vendors thank drivers when the delivered event comes (over SQS there is
    // no delivery receipt: the sender cannot see the consumer's delete).
    std::vector<courier::subscription> thanking;
    for (const auto& name : vendors) {
      thanking.push_back(bus.subscribe<delivered>([&bus, name](const delivered& d) {
        if (d.vendor == name) bus.post(thanks{name, d.driver, d.parcel});
      }));
    }
    int duplicates = 0;
    for (int parcel = 1; parcel <= chosen.parcels; ++parcel) {
      for (const auto& name : vendors) {
        const courier::send_options options{.group = name,
                                            .idempotency_key = fmt::format("{}/{}", name, parcel)};
        orders.send(pickup{name, parcel}, options);
        if (retried(parcel)) {
          orders.send(pickup{name, parcel}, options);  // SQS drops it: same dedup id within 5 minutes
          ++duplicates;
        }
      }
    }
    fmt::print("shipped {} parcels from {} vendors; {} requests sent twice\n",
               chosen.parcels * static_cast<int>(vendors.size()), vendors.size(), duplicates);
    const bool all_thanked =
        book.wait_for(static_cast<std::size_t>(chosen.parcels) * vendors.size(), std::chrono::seconds(120));
    dana_works.stop();
    bus.drain();
    const bool held = book.report(vendors, chosen.parcels) && all_thanked;
    fmt::print("{}\n", held ? "every parcel delivered once, in order" : "SOMETHING WENT WRONG");
    result = held ? 0 : 1;
  } catch (...) {
    sqs.delete_queue(url);
    throw;
  }
  sqs.delete_queue(url);
  return result;
}

int usage(std::string_view problem) {
  fmt::print(stderr,
             "parcel_service: {}\nusage: parcel_service [--parcels N] [--durable FILE] [--sqs URL] "
             "[--aws URL [--kills N] [--seed S] [--keep yes]] [--ws PORT [--serve SECONDS]]\n",
             problem);
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  settings chosen;
  for (int i = 1; i < argc; ++i) {
    const std::string_view flag = argv[i];
    if (i + 1 >= argc) return usage(fmt::format("{} needs a value", flag));
    const std::string_view value = argv[++i];
    if (flag == "--parcels") {
      const auto [end, failure] = std::from_chars(value.data(), value.data() + value.size(), chosen.parcels);
      if (failure != std::errc() || end != value.data() + value.size() || chosen.parcels <= 0) {
        return usage(fmt::format("--parcels {}: not a positive number", value));
      }
    } else if (flag == "--durable") {
      chosen.durable_file = value;
    } else if (flag == "--sqs") {
      chosen.sqs_endpoint = value;
    } else if (flag == "--aws") {
      chosen.aws_endpoint = std::string(value);
    } else if (flag == "--role") {
      chosen.role = value;
    } else if (flag == "--run") {
      chosen.run = value;
    } else if (flag == "--name") {
      chosen.name = value;
    } else if (flag == "--kills" || flag == "--seed") {
      unsigned number = 0;
      const auto [end, failure] = std::from_chars(value.data(), value.data() + value.size(), number);
      if (failure != std::errc() || end != value.data() + value.size()) {
        return usage(fmt::format("{} {}: not a number", flag, value));
      }
      if (flag == "--kills") {
        chosen.chaos.kills = static_cast<int>(number);
      } else {
        chosen.chaos.seed = number;
      }
    } else if (flag == "--keep") {
      chosen.chaos.keep = value == "yes";
    } else if (flag == "--ws" || flag == "--serve") {
      int number = 0;
      const auto [end, failure] = std::from_chars(value.data(), value.data() + value.size(), number);
      if (failure != std::errc() || end != value.data() + value.size() || number < 0) {
        return usage(fmt::format("{} {}: not a number", flag, value));
      }
      if (flag == "--ws") {
        chosen.ws_port = number;
      } else {
        chosen.serve_seconds = number;
      }
    } else {
      return usage(fmt::format("unknown option {}", flag));
    }
  }
  try {
    if (chosen.aws_endpoint && !chosen.role.empty()) {
      return over_aws::run_role(chosen.role,
                                {*chosen.aws_endpoint, chosen.run, chosen.name, chosen.parcels, vendors});
    }
    if (chosen.aws_endpoint)
      return over_aws::run(*chosen.aws_endpoint, chosen.parcels, vendors, chosen.chaos);
    return chosen.sqs_endpoint.empty() ? run_in_process(chosen) : run_over_sqs(chosen);
  } catch (const std::exception& e) {
    fmt::print(stderr, "parcel_service: {}\n", e.what());
    return 1;
  }
}
