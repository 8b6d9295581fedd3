// The parcel service over SNS and SQS, one process per role (see
// over_aws.hpp).
#include "over_aws.hpp"

#include "logbook.hpp"
#include "parcel_service.hpp"

#include <courier/channel_bridge.hpp>
#include <courier/dynamodb/client.hpp>
#include <courier/dynamodb/idempotent_store.hpp>
#include <courier/sns/publisher.hpp>
#include <courier/sns/subscribe_queue.hpp>
#include <courier/sqs/bus_feed.hpp>
#include <courier/sqs/receipt_inbox.hpp>

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>
#include <boost/json.hpp>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <csignal>
#include <map>
#include <mutex>
#include <random>
#include <set>
#include <thread>

extern char** environ;

namespace parcel_service::over_aws {
namespace {

using namespace std::chrono_literals;

// How long a role waits for what it expects before it gives up and fails.
constexpr auto patience = 120s;

// What one run names: its topic, each service's queue, the drivers' table.
struct names {
  std::string run;
  std::string topic() const { return fmt::format("parcel-{}.fifo", run); }
  std::string queue(const std::string& service) const {
    return fmt::format("parcel-{}-{}.fifo", run, service);
  }
  std::string table() const { return fmt::format("parcel-{}-applied", run); }
};

courier::aws::client_options options_for(const std::string& endpoint) {
  courier::aws::client_options options;
  options.settings.endpoint = endpoint;
  options.connect_timeout = 2s;
  return options;
}

std::atomic<bool> told_to_stop{false};

// --- the roles --------------------------------------------------------------

// The hub: every event of the run in its logbook; its verdict is the
// in-process version's end-of-run check.
int hub(const role_settings& settings) {
  const names run{settings.run};
  courier::sqs::client sqs(options_for(settings.endpoint));
  courier::bus bus;
  logbook book(bus);
  courier::sqs::bus_feed feed(sqs, sqs.get_queue_url(run.queue("hub")), bus);
  feed.accept<pickup>().accept<delivered>().accept<thanks>().answer_as("hub").apply_once_with(
      std::make_shared<courier::memory_idempotent_store>());
  auto running = feed.start();
  const std::size_t expected = static_cast<std::size_t>(settings.parcels) * settings.vendors.size();
  const bool all_thanked = book.wait_for(expected, patience);
  running.stop();
  bus.drain();
  fmt::print("hub:\n");
  const bool held = book.report(settings.vendors, settings.parcels) && all_thanked;
  std::fflush(stdout);
  return held ? 0 : 1;
}

// A driver: takes pickups from the drivers' queue (shared with the other
// driver processes; DynamoDB applies each pickup once across them) and
// publishes each delivery to the topic.
int driver_process(const role_settings& settings) {
  const names run{settings.run};
  const auto options = options_for(settings.endpoint);
  courier::sqs::client sqs(options);
  courier::sns::client sns(options);
  courier::dynamodb::client dynamo(options);
  const std::string topic = sns.create_topic(run.topic(), {.fifo = true});  // the launcher made it: its ARN
  courier::bus bus;
  courier::sns::topic<delivered> deliveries(sns, topic);
  auto forwarding = courier::route<delivered>(bus, deliveries, [](const delivered& d) {
    return courier::send_options{.group = d.vendor,
                                 .idempotency_key = fmt::format("delivered/{}/{}", d.vendor, d.parcel)};
  });
  driver me(settings.name, bus);
  auto working = bus.subscribe<pickup>([&me](const pickup& p) { me(p); });
  courier::sqs::bus_feed feed(sqs, sqs.get_queue_url(run.queue("drivers")), bus);
  feed.accept<pickup>().answer_as("drivers").apply_once_with(
      std::make_shared<courier::dynamodb::idempotent_store>(
          dynamo, courier::dynamodb::store_options{.table = run.table(), .scope = "drivers"}));
  auto running = feed.start();
  std::signal(SIGTERM, [](int) { told_to_stop = true; });
  while (!told_to_stop) std::this_thread::sleep_for(50ms);  // a signal handler can only set a flag
  return 0;
}

// A vendor: ships its parcels (every fourth request twice, as a client
// retrying), awaits the drivers' receipt of each, and thanks the driver of
// each of its deliveries.
int vendor_process(const role_settings& settings) {
  const names run{settings.run};
  const auto options = options_for(settings.endpoint);
  courier::sqs::client sqs(options);
  courier::sns::client sns(options);
  const std::string topic = sns.create_topic(run.topic(), {.fifo = true});
  auto inbox = std::make_shared<courier::sqs::receipt_inbox>(sqs);
  courier::sns::publisher events(sns, topic, {.receipts = inbox});

  courier::bus bus;
  std::mutex mutex;
  std::condition_variable changed;
  std::set<int> thanked;
  auto thanking = bus.subscribe<delivered>([&](const delivered& d) {
    if (d.vendor != settings.name) return;
    events.publish(
        thanks{settings.name, d.driver, d.parcel},
        {.group = settings.name, .idempotency_key = fmt::format("thanks/{}/{}", settings.name, d.parcel)});
    std::lock_guard lock(mutex);
    thanked.insert(d.parcel);
    changed.notify_all();
  });
  courier::sqs::bus_feed feed(sqs, sqs.get_queue_url(run.queue("vendor-" + settings.name)), bus);
  feed.accept<delivered>()
      .answer_as(settings.name)
      .apply_once_with(std::make_shared<courier::memory_idempotent_store>());
  auto running = feed.start();

  std::vector<courier::sqs::delivery_receipts> receipts;
  int retries = 0;
  for (int parcel = 1; parcel <= settings.parcels; ++parcel) {
    const courier::send_options shipping{.group = settings.name,
                                         .idempotency_key = fmt::format("{}/{}", settings.name, parcel),
                                         .track_delivery = true,
                                         .receipt_timeout = patience};
    receipts.push_back(events.publish(pickup{settings.name, parcel}, shipping).receipts);
    if (parcel % 4 == 0) {
      events.publish(pickup{settings.name, parcel}, shipping);  // the same key: one pickup, one receipt
      ++retries;
    }
  }
  std::map<courier::delivery_outcome, int> outcomes;
  for (const auto& receipt : receipts) ++outcomes[receipt.from("drivers").get()];
  bool all_thanked = false;
  {
    std::unique_lock lock(mutex);
    all_thanked = changed.wait_for(
        lock, patience, [&] { return thanked.size() == static_cast<std::size_t>(settings.parcels); });
  }
  running.stop();
  const int acked = outcomes[courier::delivery_outcome::acked];
  fmt::print(
      "vendor {}: shipped {} parcels ({} requests sent twice), drivers' receipts {} of {} acked, thanked "
      "{}\n",
      settings.name, settings.parcels, retries, acked, receipts.size(), thanked.size());
  std::fflush(stdout);
  return acked == settings.parcels && all_thanked ? 0 : 1;
}

// --- the launcher -----------------------------------------------------------

// Starts this program again as role; returns its pid.
pid_t start_role(const std::string& role, const role_settings& settings) {
  std::vector<std::string> args = {"parcel_service",
                                   "--aws",
                                   settings.endpoint,
                                   "--role",
                                   role,
                                   "--run",
                                   settings.run,
                                   "--name",
                                   settings.name,
                                   "--parcels",
                                   std::to_string(settings.parcels)};
  std::vector<char*> argv;
  for (auto& arg : args) argv.push_back(arg.data());
  argv.push_back(nullptr);
  pid_t pid = 0;
  if (const int failure = posix_spawn(&pid, "/proc/self/exe", nullptr, nullptr, argv.data(), environ);
      failure != 0) {
    throw std::runtime_error(fmt::format("could not start the {} process: {}", role, std::strerror(failure)));
  }
  return pid;
}

// True once the queue holds nothing, visible or in flight; false if it
// still does at the deadline.
bool queue_drained(courier::sqs::client& sqs, const std::string& name, std::chrono::seconds patience) {
  const std::string url = sqs.get_queue_url(name);
  const auto deadline = std::chrono::steady_clock::now() + patience;
  for (;;) {
    auto counts = sqs.get_queue_attributes(
        url, {"ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"});
    if (counts["ApproximateNumberOfMessages"] == "0" &&
        counts["ApproximateNumberOfMessagesNotVisible"] == "0") {
      return true;
    }
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(200ms);  // the queue's state is only known by asking
  }
}

// How many pickups the drivers have marked in the DynamoDB table (claims
// in progress included): how far the run has come.
int applied_pickups(courier::dynamodb::client& dynamo, const std::string& table) {
  int count = 0;
  boost::json::object request{{"TableName", table}, {"Select", "COUNT"}};
  for (;;) {
    const auto page = dynamo.call("Scan", request);
    count += static_cast<int>(page.at("Count").to_number<std::int64_t>());
    const auto* next = page.if_contains("LastEvaluatedKey");
    if (next == nullptr) return count;
    request["ExclusiveStartKey"] = *next;
  }
}

// The exit code of pid (-1 if a signal ended it).
int wait_for_exit(pid_t pid) {
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

}  // namespace

int run_role(const std::string& role, const role_settings& settings) {
  if (role == "hub") return hub(settings);
  if (role == "driver") return driver_process(settings);
  if (role == "vendor") return vendor_process(settings);
  fmt::print(stderr, "parcel_service: no role named {}\n", role);
  return 2;
}

int run(const std::string& endpoint, int parcels, const std::vector<std::string>& vendors,
        const faults& chaos) {
  const names run{std::to_string(::getpid())};
  const auto options = options_for(endpoint);
  courier::sqs::client sqs(options);
  courier::sns::client sns(options);
  courier::dynamodb::client dynamo(options);

  // Everything subscribed before anything is published: SNS keeps nothing
  // for a subscriber that is not there yet.
  const std::string topic = sns.create_topic(run.topic(), {.fifo = true});
  std::vector<std::string> queues;
  auto subscribe = [&](const std::string& service, std::vector<std::string> types,
                       std::vector<std::string> groups, const char* visibility) {
    queues.push_back(courier::sns::subscribe_queue(sns, sqs, topic, run.queue(service),
                                                   {.types = std::move(types),
                                                    .groups = std::move(groups),
                                                    .queue_attributes = {{"VisibilityTimeout", visibility}}})
                         .queue_url);
  };
  subscribe("hub", {}, {}, "10");
  // A short visibility timeout (and so a short lease in the store): a
  // driver killed with a pickup in hand hands it on after 4 s.
  subscribe("drivers", courier::sns::event_types<pickup>(), {}, "4");
  // Each vendor hears of its own deliveries only (their group is the vendor).
  for (const auto& vendor : vendors) {
    subscribe("vendor-" + vendor, courier::sns::event_types<delivered>(), {vendor}, "10");
  }
  courier::dynamodb::idempotent_store::create_table(dynamo, run.table());
  fmt::print("over SNS and SQS at {}: topic {}, {} queues, table {}\n", endpoint.empty() ? "AWS" : endpoint,
             run.topic(), queues.size(), run.table());
  std::fflush(stdout);

  const role_settings base{endpoint, run.run, "", parcels, vendors};
  auto with_name = [&](const std::string& name) {
    auto settings = base;
    settings.name = name;
    return settings;
  };
  int result = 1;
  std::mutex mutex;
  std::vector<pid_t> started;                          // ended with SIGKILL if the launcher fails midway
  std::vector<std::pair<std::string, pid_t>> drivers;  // name, the process running it now
  auto start = [&](const std::string& role, const role_settings& settings) {
    const pid_t pid = start_role(role, settings);
    std::lock_guard lock(mutex);
    started.push_back(pid);
    return pid;
  };
  std::atomic<bool> shipped{false};
  std::thread killer;
  try {
    const pid_t hub_pid = start("hub", base);
    for (const char* name : {"dana", "eli"}) drivers.emplace_back(name, start("driver", with_name(name)));
    std::vector<pid_t> shops;
    for (const auto& vendor : vendors) shops.push_back(start("vendor", with_name(vendor)));
    // While the vendors ship: a driver killed with SIGKILL at seeded random
    // moments, and started again.
    killer = std::thread([&] {
      // The moments are points of progress, not of time (a slow machine
      // would otherwise see every kill after the work): a driver dies when
      // the drivers have applied the k-th pickup, for seeded random k.
      std::mt19937 dice(chaos.seed);
      const int total = parcels * static_cast<int>(vendors.size());
      std::vector<int> moments;
      for (int k = 0; k < chaos.kills; ++k)
        moments.push_back(std::uniform_int_distribution<int>(1, total - 1)(dice));
      std::sort(moments.begin(), moments.end());
      int kill_number = 0;
      for (const int moment : moments) {
        int applied = 0;
        while (!shipped && (applied = applied_pickups(dynamo, run.table())) < moment)
          std::this_thread::sleep_for(100ms);
        if (shipped) break;
        auto& [name, pid] = drivers[std::uniform_int_distribution<std::size_t>(0, drivers.size() - 1)(dice)];
        kill(pid, SIGKILL);
        wait_for_exit(pid);
        const pid_t was = pid;
        pid = start("driver", with_name(name));
        fmt::print(
            "kill {}: at {} pickups applied, driver {} (pid {}) killed with SIGKILL, started again as pid "
            "{}\n",
            ++kill_number, applied, name, was, pid);
        std::fflush(stdout);
      }
    });
    int failed = 0;
    for (const pid_t shop : shops) failed += wait_for_exit(shop) == 0 ? 0 : 1;
    shipped = true;
    killer.join();
    const int hub_verdict = wait_for_exit(hub_pid);
    // A driver killed between a receipt and its delete left that pickup
    // to come back: the drivers finish their queue (turning it away) first.
    const bool drained = queue_drained(sqs, run.queue("drivers"), 60s);
    for (const auto& [name, pid] : drivers) kill(pid, SIGTERM);
    for (const auto& [name, pid] : drivers) wait_for_exit(pid);
    const bool held = failed == 0 && hub_verdict == 0 && drained;
    fmt::print("{}\n",
               held ? "every parcel delivered once, in order, every receipt back"
                    : fmt::format("SOMETHING WENT WRONG ({} vendors failed, hub said {}, drivers' queue {})",
                                  failed, hub_verdict, drained ? "drained" : "not drained"));
    result = held ? 0 : 1;
  } catch (const std::exception& e) {
    fmt::print(stderr, "parcel_service: {}\n", e.what());
    shipped = true;
    if (killer.joinable()) killer.join();
    std::lock_guard lock(mutex);
    for (const pid_t pid : started) kill(pid, SIGKILL);
    for (const pid_t pid : started) wait_for_exit(pid);
  }
  if (chaos.keep) {
    // For a checker reading the engines' own state (tests/sns/): one JSON line.
    boost::json::array urls;
    for (const auto& url : queues) urls.emplace_back(url);
    fmt::print("kept: {}\n", boost::json::serialize(boost::json::object{
                                 {"topic", topic}, {"queues", std::move(urls)}, {"table", run.table()}}));
    return result;
  }
  for (const auto& url : queues) sqs.delete_queue(url);
  sns.delete_topic(topic);
  dynamo.delete_table(run.table());
  return result;
}

}  // namespace parcel_service::over_aws
