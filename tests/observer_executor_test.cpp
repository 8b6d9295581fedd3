// Observers on an executor (subscribe_options::executor): they run when the
// executor runs them, with a copy of each event, in order, never twice at
// once; disconnect() keeps its rule; errors go to the bus's error handler.
// A hand-run executor makes each step visible; the Asio one is in
// tests/asio_test.cpp.
#include "courier/observer_executor.hpp"

#include "courier/bus.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace {

struct parcel_scanned {
  int parcel = 0;
  std::string where;
};

// Jobs wait in a list until the test runs them.
class hand_run_executor {
 public:
  courier::observer_executor executor() {
    return courier::observer_executor([this](courier::observer_executor::job job) {
      std::lock_guard lock(mutex_);
      jobs_.push_back(std::move(job));
    });
  }

  // Runs jobs, including those they queue, until none is left; returns how many ran.
  int run() {
    int ran = 0;
    for (;;) {
      courier::observer_executor::job next;
      {
        std::lock_guard lock(mutex_);
        if (jobs_.empty()) return ran;
        next = std::move(jobs_.front());
        jobs_.pop_front();
      }
      next();
      ++ran;
    }
  }

 private:
  std::mutex mutex_;
  std::deque<courier::observer_executor::job> jobs_;
};

// Both observer lists: the executor hand-off sits in the observer's call.
template <class Bus>
class observer_executor : public ::testing::Test {};
using thread_safe_buses = ::testing::Types<courier::bus, courier::snapshot_bus>;
TYPED_TEST_SUITE(observer_executor, thread_safe_buses);

TYPED_TEST(observer_executor, the_observer_runs_on_the_executor_with_a_copy_in_publish_order) {
  TypeParam bus;
  hand_run_executor executor;
  std::vector<std::string> seen;
  auto subscription = bus.template subscribe<parcel_scanned>(
      [&](const parcel_scanned& scan) { seen.push_back(std::to_string(scan.parcel) + "@" + scan.where); },
      {.executor = executor.executor()});
  parcel_scanned scan{1, "depot"};
  bus.publish(scan);
  scan.where = "changed after publish";
  bus.publish(parcel_scanned{2, "van"});
  EXPECT_TRUE(seen.empty()) << "publish() only queues";
  executor.run();
  EXPECT_EQ(seen, (std::vector<std::string>{"1@depot", "2@van"}));
}

TYPED_TEST(observer_executor, the_filter_applies_when_the_event_is_published) {
  TypeParam bus;
  hand_run_executor executor;
  std::vector<int> seen;
  auto evens = bus.template subscribe<parcel_scanned>(
      [&](const parcel_scanned& scan) { seen.push_back(scan.parcel); },
      {.filter = [](const parcel_scanned& scan) { return scan.parcel % 2 == 0; },
       .executor = executor.executor()});
  for (int parcel = 1; parcel <= 4; ++parcel) bus.publish(parcel_scanned{parcel, "depot"});
  executor.run();
  EXPECT_EQ(seen, (std::vector<int>{2, 4}));
}

TYPED_TEST(observer_executor, disconnect_drops_what_was_queued) {
  TypeParam bus;
  hand_run_executor executor;
  int calls = 0;
  auto subscription = bus.template subscribe<parcel_scanned>([&](const parcel_scanned&) { ++calls; },
                                                             {.executor = executor.executor()});
  for (int parcel = 0; parcel < 3; ++parcel) bus.publish(parcel_scanned{parcel, "depot"});
  subscription.disconnect();
  executor.run();
  EXPECT_EQ(calls, 0);
  bus.publish(parcel_scanned{9, "depot"});
  EXPECT_EQ(executor.run(), 0) << "nothing is queued after disconnect";
}

TYPED_TEST(observer_executor, disconnect_from_inside_the_observer_returns_and_stops_the_rest) {
  TypeParam bus;
  hand_run_executor executor;
  courier::subscription subscription;
  std::vector<int> seen;
  subscription = bus.template subscribe<parcel_scanned>(
      [&](const parcel_scanned& scan) {
        seen.push_back(scan.parcel);
        subscription.disconnect();  // must not wait for the call it is in
      },
      {.executor = executor.executor()});
  for (int parcel = 0; parcel < 3; ++parcel) bus.publish(parcel_scanned{parcel, "depot"});
  executor.run();
  EXPECT_EQ(seen, std::vector<int>{0});
}

TYPED_TEST(observer_executor, disconnect_from_another_thread_waits_for_a_running_call) {
  TypeParam bus;
  hand_run_executor executor;
  std::atomic<bool> in_call{false}, disconnecting{false}, call_done{false}, returned_before_done{false};
  auto subscription = bus.template subscribe<parcel_scanned>(
      [&](const parcel_scanned&) {
        in_call = true;
        while (!disconnecting) std::this_thread::yield();
        // disconnect() has begun; give it every chance to return early.
        for (int i = 0; i < 10'000; ++i) std::this_thread::yield();
        call_done = true;
      },
      {.executor = executor.executor()});
  bus.publish(parcel_scanned{1, "depot"});
  std::thread runner([&] { executor.run(); });
  while (!in_call) std::this_thread::yield();
  disconnecting = true;
  subscription.disconnect();
  returned_before_done = !call_done;
  runner.join();
  EXPECT_FALSE(returned_before_done) << "disconnect() returned while the observer was still running";
}

TYPED_TEST(observer_executor, an_exception_goes_to_the_error_handler_and_the_next_event_still_runs) {
  std::vector<std::string> errors;
  TypeParam bus({.on_error = [&](const courier::async_error& e) { errors.push_back(e.what()); }});
  hand_run_executor executor;
  std::vector<int> seen;
  auto subscription = bus.template subscribe<parcel_scanned>(
      [&](const parcel_scanned& scan) {
        seen.push_back(scan.parcel);
        if (scan.parcel == 1) throw std::runtime_error("scanner jammed");
      },
      {.executor = executor.executor()});
  bus.publish(parcel_scanned{1, "depot"});
  bus.publish(parcel_scanned{2, "depot"});
  executor.run();
  EXPECT_EQ(seen, (std::vector<int>{1, 2}));
  EXPECT_EQ(errors, std::vector<std::string>{"scanner jammed"});
}

TYPED_TEST(observer_executor, an_owner_gone_before_the_call_runs_is_not_called) {
  struct driver {
    int calls = 0;
    void on_scan(const parcel_scanned&) { ++calls; }
  };
  TypeParam bus;
  hand_run_executor executor;
  auto owner = std::make_shared<driver>();
  std::weak_ptr<driver> watch = owner;
  auto subscription =
      bus.template subscribe<parcel_scanned>(owner, &driver::on_scan, {.executor = executor.executor()});
  bus.publish(parcel_scanned{1, "depot"});
  owner.reset();
  EXPECT_EQ(executor.run(), 1);
  EXPECT_TRUE(watch.expired()) << "the queued call does not keep the owner alive";
}

TYPED_TEST(observer_executor, a_busy_observer_gives_the_executor_back_between_batches) {
  TypeParam bus;
  hand_run_executor executor;
  int calls = 0;
  auto subscription = bus.template subscribe<parcel_scanned>([&](const parcel_scanned&) { ++calls; },
                                                             {.executor = executor.executor()});
  for (int parcel = 0; parcel < 200; ++parcel) bus.publish(parcel_scanned{parcel, "depot"});
  EXPECT_GT(executor.run(), 1) << "one job ran all 200 calls";
  EXPECT_EQ(calls, 200);
}

TYPED_TEST(observer_executor, subscribe_all_refuses_an_executor) {
  TypeParam bus;
  hand_run_executor executor;
  try {
    auto subscription =
        bus.subscribe_all([](const courier::event_ref&) {}, {.executor = executor.executor()});
    ADD_FAILURE() << "subscribe_all accepted an executor";
  } catch (const courier::error& e) {
    EXPECT_EQ(e.code(), courier::errc::invalid_option);
  }
}

}  // namespace
