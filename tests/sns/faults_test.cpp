// The exactly-once fault run over an SNS topic (fixture moto, through
// fault_proxy.py: 15% HTTP 500, 10% throttling, 10% dropped connections,
// half of those after moto applied the request). One publisher, three
// subscribing services on a FIFO topic, each with its own queue, an
// idempotent store, an observer that fails now and then and acks that are
// lost: every service applies every event exactly once, each group in
// publish order.
#include "courier/sns/publisher.hpp"

#include "../sqs/moto_env.hpp"
#include "courier/bus.hpp"
#include "courier/idempotent_store.hpp"
#include "courier/sns/subscribe_queue.hpp"
#include "courier/sqs/bus_feed.hpp"
#include "courier/testing/fault_dice.hpp"
#include "courier/testing/faulty.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <boost/describe.hpp>

#include <algorithm>
#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

struct keyed_event {
  int key;
  int group;
};
BOOST_DESCRIBE_STRUCT(keyed_event, (), (key, group))

namespace {

using namespace std::chrono_literals;
using courier::testing::fault_dice;

courier::aws::client_options through_proxy(int attempts) {
  auto options = courier_test::fixture_options("COURIER_TEST_PROXY_DIR");
  options.max_attempts = attempts;
  options.backoff_base = 1ms;
  options.backoff_cap = 20ms;
  return options;
}

// One subscribing service: its feed reads through the proxy; its observer
// fails before applying now and then (the feed nacks, the event comes
// again); what it applied, in order.
class subscriber {
 public:
  subscriber(courier::sqs::client& sqs, const std::string& queue_url, std::uint64_t seed)
      : feed_(sqs, queue_url, bus_), dice_(fault_dice::rate(0.05, seed)) {
    applying_ = bus_.subscribe<keyed_event>([this](const keyed_event& e) {
      if (dice_.roll())
        throw courier::testing::injected_fault("injected: the observer failed before applying");
      std::lock_guard lock(mutex_);
      if (++applied_[e.key] == 1) by_group_[e.group].push_back(e.key);
      changed_.notify_all();
    });
    feed_.accept<keyed_event>().apply_once_with(std::make_shared<courier::memory_idempotent_store>());
  }

  // start() asks the queue's visibility timeout (the store's lease), which
  // the proxy may refuse twice in a row: asked again, as a service would.
  void start() {
    for (int attempt = 0;; ++attempt) {
      try {
        running_ = feed_.start({.batch = 10});
        return;
      } catch (const courier::aws::error&) {
        if (attempt == 20) throw;
      }
    }
  }
  void stop() { running_.stop(); }

  bool wait_for(std::size_t keys, std::chrono::seconds timeout) {
    std::unique_lock lock(mutex_);
    return changed_.wait_for(lock, timeout, [&] { return applied_.size() >= keys; });
  }
  std::map<int, int> applied() const {
    std::lock_guard lock(mutex_);
    return applied_;
  }
  std::map<int, std::vector<int>> by_group() const {
    std::lock_guard lock(mutex_);
    return by_group_;
  }

 private:
  courier::bus bus_;
  courier::sqs::bus_feed<courier::bus> feed_;
  fault_dice dice_;
  mutable std::mutex mutex_;
  std::condition_variable changed_;
  std::map<int, int> applied_;                // key -> times its effect ran
  std::map<int, std::vector<int>> by_group_;  // group -> keys in the order applied
  courier::subscription applying_;
  courier::consumer running_;
};

TEST(sns_faults, every_service_applies_every_event_once_in_group_order_through_faults) {
  constexpr int keys = 120;
  constexpr int groups = 4;
  // Topic and queues set up directly (the faults are for the run).
  const auto unharmed = courier_test::fixture_options("COURIER_TEST_PROXY_DIR", "upstream_endpoint");
  courier::sns::client setup_sns(unharmed);
  courier::sqs::client setup_sqs(unharmed);
  const std::string topic = setup_sns.create_topic("faults-topic.fifo", {.fifo = true});
  std::vector<std::string> queues;
  for (const char* name : {"faults-topic-a.fifo", "faults-topic-b.fifo", "faults-topic-c.fifo"}) {
    // A one-second visibility timeout: a nack or delete lost to the proxy
    // costs a second, not thirty.
    queues.push_back(courier::sns::subscribe_queue(setup_sns, setup_sqs, topic, name,
                                                   {.queue_attributes = {{"VisibilityTimeout", "1"}}})
                         .queue_url);
  }

  // The publisher retries until SNS has it; the subscribers give up after
  // two attempts, so some deletes fail after the event was applied and the
  // queue hands it over again: the store must turn those away.
  courier::sns::client sns(through_proxy(12));
  courier::sqs::client sqs(through_proxy(2));
  std::vector<std::unique_ptr<subscriber>> services;
  for (std::size_t i = 0; i < queues.size(); ++i) {
    services.push_back(std::make_unique<subscriber>(sqs, queues[i], 21 + i));
    services.back()->start();
  }
  courier::sns::publisher events(sns, topic);
  int republished = 0;
  for (int key = 0; key < keys; ++key) {
    const courier::send_options options{.group = "g" + std::to_string(key % groups),
                                        .idempotency_key = "key-" + std::to_string(key)};
    for (int attempt = 0;; ++attempt) {
      try {
        events.publish(keyed_event{key, key % groups}, options);
        break;
      } catch (const courier::aws::error& e) {  // retries exhausted: publish again, same key
        ASSERT_LT(attempt, 5) << e.what();
        ++republished;
      }
    }
  }
  for (auto& service : services) EXPECT_TRUE(service->wait_for(keys, 120s)) << "events were lost";
  for (auto& service : services) service->stop();

  for (std::size_t i = 0; i < services.size(); ++i) {
    const auto applied = services[i]->applied();
    EXPECT_EQ(static_cast<int>(applied.size()), keys) << queues[i];
    for (const auto& [key, times] : applied) {
      EXPECT_EQ(times, 1) << queues[i] << ": key " << key << " applied " << times << " times";
    }
    for (const auto& [group, order] : services[i]->by_group()) {
      EXPECT_TRUE(std::is_sorted(order.begin(), order.end()))
          << queues[i] << ": group " << group << " out of order: " << ::testing::PrintToString(order);
    }
  }
  for (const auto& url : queues) setup_sqs.delete_queue(url);
  setup_sns.delete_topic(topic);
}

}  // namespace
