// bus::post(): the async path, its executors, drain() and shutdown.
#include "courier/bus.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

struct numbered {
  int producer;
  int sequence;
};
struct fail_on {
  int value;
};

// Collects what the error handler receives.
struct error_log {
  std::mutex mutex;
  std::vector<std::string> messages;
  courier::async_error_handler handler() {
    return [this](const courier::async_error& failure) {
      std::lock_guard lock(mutex);
      messages.push_back(std::string(failure.event_type) + ": " + failure.what());
    };
  }
  std::vector<std::string> snapshot() {
    std::lock_guard lock(mutex);
    return messages;
  }
};

TEST(bus_post, observers_run_on_the_worker_thread) {
  courier::bus bus;
  std::thread::id observer_thread;
  auto sub = bus.subscribe<numbered>([&](const numbered&) { observer_thread = std::this_thread::get_id(); });
  bus.post(numbered{0, 0});
  bus.drain();
  EXPECT_NE(observer_thread, std::thread::id());
  EXPECT_NE(observer_thread, std::this_thread::get_id());
}

TEST(bus_post, each_thread_s_events_are_observed_in_its_order) {
  constexpr int producers = 4;
  constexpr int per_producer = 5000;
  courier::bus bus;
  std::vector<int> next(producers, 0);  // touched only by the worker
  std::atomic<int> out_of_order{0};
  auto sub = bus.subscribe<numbered>([&](const numbered& e) {
    if (e.sequence != next[e.producer]) ++out_of_order;
    next[e.producer] = e.sequence + 1;
  });
  std::vector<std::thread> threads;
  for (int p = 0; p < producers; ++p) {
    threads.emplace_back([&bus, p] {
      for (int s = 0; s < per_producer; ++s) bus.post(numbered{p, s});
    });
  }
  for (auto& thread : threads) thread.join();
  bus.drain();
  EXPECT_EQ(out_of_order.load(), 0);
  EXPECT_THAT(next, ElementsAre(per_producer, per_producer, per_producer, per_producer));
}

TEST(bus_post, drain_covers_everything_posted_before_it_while_others_keep_posting) {
  courier::bus bus;
  std::atomic<int> last_seen_from_main{-1};
  auto sub = bus.subscribe<numbered>([&](const numbered& e) {
    if (e.producer == 0) last_seen_from_main.store(e.sequence);
  });
  // The other thread posts a bounded stream while main drains: a producer
  // faster than the worker would grow the backlog drain() waits for, by design.
  std::thread other([&] {
    for (int s = 0; s < 20000; ++s) bus.post(numbered{1, s});
  });
  for (int s = 0; s < 300; ++s) {
    bus.post(numbered{0, s});
    bus.drain();
    ASSERT_EQ(last_seen_from_main.load(), s);
  }
  other.join();
}

TEST(bus_post, an_observer_exception_goes_to_the_handler_and_the_worker_goes_on) {
  error_log errors;
  courier::bus bus({.on_error = errors.handler()});
  std::atomic<int> handled{0};
  auto sub = bus.subscribe<fail_on>([&](const fail_on& e) {
    ++handled;
    if (e.value % 2 == 1) throw std::runtime_error("odd value " + std::to_string(e.value));
  });
  for (int v = 0; v < 6; ++v) bus.post(fail_on{v});
  bus.drain();
  EXPECT_EQ(handled.load(), 6);
  const auto messages = errors.snapshot();
  ASSERT_EQ(messages.size(), 3U);
  EXPECT_THAT(messages[0], HasSubstr("fail_on"));
  EXPECT_THAT(messages[0], HasSubstr("odd value 1"));
  EXPECT_THAT(messages[2], HasSubstr("odd value 5"));
}

TEST(bus_post, the_default_error_handler_logs_to_stderr) {
  ::testing::internal::CaptureStderr();
  {
    courier::bus bus;
    auto sub = bus.subscribe<fail_on>([](const fail_on&) { throw std::runtime_error("boom"); });
    bus.post(fail_on{1});
    bus.drain();
  }
  const std::string logged = ::testing::internal::GetCapturedStderr();
  EXPECT_THAT(logged, HasSubstr("fail_on"));
  EXPECT_THAT(logged, HasSubstr("boom"));
}

TEST(bus_post, report_error_hands_an_exception_to_the_same_handler) {
  error_log errors;
  courier::bus bus({.on_error = errors.handler()});
  bus.report_error("pickup", std::make_exception_ptr(std::runtime_error("a peer's observer failed")));
  const auto messages = errors.snapshot();
  ASSERT_EQ(messages.size(), 1U);
  EXPECT_THAT(messages[0], HasSubstr("pickup"));
  EXPECT_THAT(messages[0], HasSubstr("a peer's observer failed"));
}

TEST(bus_post, destruction_handles_what_is_still_queued_by_default) {
  std::atomic<int> handled{0};
  courier::subscription sub;
  {
    courier::bus bus;
    sub = bus.subscribe<numbered>([&](const numbered&) {
      std::this_thread::yield();
      ++handled;
    });
    for (int s = 0; s < 1000; ++s) bus.post(numbered{0, s});
  }
  EXPECT_EQ(handled.load(), 1000);
}

TEST(bus_post, discard_policy_drops_queued_events_and_reports_how_many) {
  error_log errors;
  std::atomic<int> handled{0};
  {
    courier::bus_st bus({.on_shutdown = courier::shutdown_policy::discard, .on_error = errors.handler()});
    auto sub = bus.subscribe<numbered>([&](const numbered&) { ++handled; });
    for (int s = 0; s < 10; ++s) bus.post(numbered{0, s});
    EXPECT_EQ(bus.run_pending(3), 3U);
  }
  EXPECT_EQ(handled.load(), 3);
  EXPECT_THAT(errors.snapshot(), ElementsAre(HasSubstr("discarded 7 posted event(s)")));
}

TEST(bus_post, posting_during_shutdown_is_refused_loudly) {
  error_log errors;
  std::atomic<bool> release{false};
  std::atomic<int> handled{0};
  std::atomic<int> accepted{0};
  auto* bus =
      new courier::bus({.on_shutdown = courier::shutdown_policy::discard, .on_error = errors.handler()});
  auto first = bus->subscribe<fail_on>([&](const fail_on&) {
    ++handled;
    while (!release.load()) std::this_thread::yield();
    // The destructor has begun or will; it cannot finish while we run, and
    // once it has begun every post is refused.
    for (;;) {
      bus->post(numbered{0, 0});
      ++accepted;
    }
  });
  auto second = bus->subscribe<numbered>([&](const numbered&) { ++handled; });
  bus->post(fail_on{0});
  while (handled.load() == 0) std::this_thread::yield();  // the worker is now busy
  std::thread destroyer([bus] { delete bus; });
  release.store(true);
  destroyer.join();
  EXPECT_EQ(handled.load(), 1) << "events posted during shutdown must be discarded, not handled";
  const auto messages = errors.snapshot();
  ASSERT_GE(messages.size(), 1U);
  EXPECT_THAT(messages[0], HasSubstr("post("));
  EXPECT_THAT(messages[0], HasSubstr("numbered"));
  EXPECT_THAT(messages[0], HasSubstr("the bus is shutting down"));
  if (accepted.load() > 0) {
    ASSERT_EQ(messages.size(), 2U);
    EXPECT_THAT(messages[1], HasSubstr("discarded " + std::to_string(accepted.load()) + " posted event(s)"));
  }
}

TEST(bus_post, drain_from_the_worker_is_refused_instead_of_deadlocking) {
  error_log errors;
  courier::bus bus({.on_error = errors.handler()});
  auto sub = bus.subscribe<numbered>([&](const numbered&) { bus.drain(); });
  bus.post(numbered{0, 0});
  bus.drain();
  EXPECT_THAT(errors.snapshot(), ElementsAre(HasSubstr("would deadlock")));
}

TEST(bus_post, a_manual_bus_runs_observers_only_in_run_pending) {
  courier::bus bus({.executor = courier::executor_kind::manual});
  std::vector<int> seen;
  auto sub = bus.subscribe<numbered>([&](const numbered& e) { seen.push_back(e.sequence); });
  for (int s = 0; s < 5; ++s) bus.post(numbered{0, s});
  EXPECT_TRUE(seen.empty());
  EXPECT_EQ(bus.run_pending(2), 2U);
  EXPECT_THAT(seen, ElementsAre(0, 1));
  EXPECT_EQ(bus.run_pending(), 3U);
  EXPECT_THAT(seen, ElementsAre(0, 1, 2, 3, 4));
  EXPECT_EQ(bus.run_pending(), 0U);
}

TEST(bus_post, drain_on_a_manual_bus_runs_the_queue_itself) {
  courier::bus_st bus;
  int seen = 0;
  auto sub = bus.subscribe<numbered>([&](const numbered&) { ++seen; });
  for (int s = 0; s < 5; ++s) bus.post(numbered{0, s});
  bus.drain();
  EXPECT_EQ(seen, 5);
}

TEST(bus_post, run_pending_on_a_worker_bus_is_an_error) {
  courier::bus bus;
  try {
    bus.run_pending();
    FAIL() << "run_pending() on a worker bus did not throw";
  } catch (const courier::error& failure) {
    EXPECT_EQ(failure.code(), courier::errc::invalid_option);
  }
}

TEST(bus_post, a_bus_st_accepts_posts_from_other_threads) {
  courier::bus_st bus;
  std::vector<int> seen;
  auto sub = bus.subscribe<numbered>([&](const numbered& e) { seen.push_back(e.sequence); });
  std::thread producer([&] {
    for (int s = 0; s < 100; ++s) bus.post(numbered{1, s});
  });
  producer.join();
  EXPECT_EQ(bus.run_pending(), 100U);
  ASSERT_EQ(seen.size(), 100U);
  for (int s = 0; s < 100; ++s) EXPECT_EQ(seen[static_cast<std::size_t>(s)], s);
}

// A run of posted events of one type reaches a lone observer in one Signals2
// call (detail/run_delivery.hpp). These tests pin down that nothing an
// observer can see differs from one publish per event. A manual bus posts
// everything first, so run_pending() finds the events as one run.

struct step {
  int value;
};

// Who saw which event, in the order it happened.
using sightings = std::vector<std::string>;
std::string sighting(const char* observer, int value) { return observer + std::to_string(value); }

template <class Bus>
void post_steps(Bus& bus, int count) {
  for (int v = 0; v < count; ++v) bus.post(step{v});
}

// Runs go through each observer list's own call path: both are tested.
template <class ThreadSafe, class SingleThreaded>
struct bus_pair {
  using mt = ThreadSafe;
  using st = SingleThreaded;
};
template <class Pair>
class bus_post_runs : public ::testing::Test {};
using bus_pairs = ::testing::Types<bus_pair<courier::bus, courier::bus_st>,
                                   bus_pair<courier::snapshot_bus, courier::snapshot_bus_st>>;
TYPED_TEST_SUITE(bus_post_runs, bus_pairs);

TYPED_TEST(bus_post_runs, a_lone_observer_sees_the_whole_run_in_order) {
  typename TypeParam::mt bus({.executor = courier::executor_kind::manual});
  std::vector<int> seen;
  auto sub = bus.template subscribe<step>([&](const step& e) { seen.push_back(e.value); });
  post_steps(bus, 100);
  EXPECT_EQ(bus.run_pending(), 100U);
  ASSERT_EQ(seen.size(), 100U);
  for (int v = 0; v < 100; ++v) EXPECT_EQ(seen[static_cast<std::size_t>(v)], v);
}

TYPED_TEST(bus_post_runs, two_observers_see_each_event_in_turn) {
  typename TypeParam::mt bus({.executor = courier::executor_kind::manual});
  sightings log;
  auto a = bus.template subscribe<step>([&](const step& e) { log.push_back(sighting("a", e.value)); });
  auto b = bus.template subscribe<step>([&](const step& e) { log.push_back(sighting("b", e.value)); });
  post_steps(bus, 3);
  bus.run_pending();
  EXPECT_THAT(log, ElementsAre("a0", "b0", "a1", "b1", "a2", "b2"));
}

TYPED_TEST(bus_post_runs, an_observer_subscribed_mid_run_sees_the_events_after_it) {
  typename TypeParam::st bus;
  sightings log;
  courier::subscription late;
  auto a = bus.template subscribe<step>([&](const step& e) {
    log.push_back(sighting("a", e.value));
    if (e.value == 1) {
      late =
          bus.template subscribe<step>([&](const step& seen) { log.push_back(sighting("b", seen.value)); });
    }
  });
  post_steps(bus, 4);
  bus.run_pending();
  EXPECT_THAT(log, ElementsAre("a0", "a1", "a2", "b2", "a3", "b3"));
}

TYPED_TEST(bus_post_runs, a_catch_all_observer_subscribed_mid_run_sees_the_events_after_it) {
  typename TypeParam::mt bus({.executor = courier::executor_kind::manual});
  sightings log;
  courier::subscription all;
  auto a = bus.template subscribe<step>([&](const step& e) {
    log.push_back(sighting("a", e.value));
    if (e.value == 0) {
      all = bus.subscribe_all([&](const courier::event_ref& event) {
        log.push_back(sighting("all", event.get_if<step>()->value));
      });
    }
  });
  post_steps(bus, 3);
  bus.run_pending();
  EXPECT_THAT(log, ElementsAre("a0", "a1", "all1", "a2", "all2"));
}

TYPED_TEST(bus_post_runs, an_observer_that_disconnects_itself_sees_nothing_after) {
  typename TypeParam::mt bus({.executor = courier::executor_kind::manual});
  std::vector<int> seen;
  courier::subscription sub;
  sub = bus.template subscribe<step>([&](const step& e) {
    seen.push_back(e.value);
    if (e.value == 2) sub.disconnect();
  });
  post_steps(bus, 6);
  EXPECT_EQ(bus.run_pending(), 6U);
  EXPECT_THAT(seen, ElementsAre(0, 1, 2));
}

TYPED_TEST(bus_post_runs, an_observer_blocked_mid_run_is_skipped_until_unblocked) {
  typename TypeParam::st bus;
  std::vector<int> seen;
  courier::subscription sub;
  courier::subscription_block block;
  sub = bus.template subscribe<step>([&](const step& e) {
    seen.push_back(e.value);
    if (e.value == 1) block = sub.block();
  });
  post_steps(bus, 4);
  bus.run_pending();
  EXPECT_THAT(seen, ElementsAre(0, 1));
  block.unblock();
  bus.post(step{10});
  bus.post(step{11});
  bus.run_pending();
  EXPECT_THAT(seen, ElementsAre(0, 1, 10, 11));
}

TYPED_TEST(bus_post_runs, an_exception_is_reported_per_event_and_the_run_goes_on) {
  error_log errors;
  typename TypeParam::mt bus({.executor = courier::executor_kind::manual, .on_error = errors.handler()});
  std::vector<int> seen;
  auto sub = bus.template subscribe<step>([&](const step& e) {
    seen.push_back(e.value);
    if (e.value % 2 == 1) throw std::runtime_error("odd step " + std::to_string(e.value));
  });
  post_steps(bus, 5);
  bus.run_pending();
  EXPECT_THAT(seen, ElementsAre(0, 1, 2, 3, 4));
  EXPECT_THAT(errors.snapshot(), ElementsAre(HasSubstr("odd step 1"), HasSubstr("odd step 3")));
}

TYPED_TEST(bus_post_runs, runs_break_at_a_change_of_type_and_keep_the_posting_order) {
  typename TypeParam::mt bus({.executor = courier::executor_kind::manual});
  sightings log;
  auto steps = bus.template subscribe<step>([&](const step& e) { log.push_back(sighting("s", e.value)); });
  auto others =
      bus.template subscribe<numbered>([&](const numbered& e) { log.push_back(sighting("n", e.sequence)); });
  bus.post(step{0});
  bus.post(step{1});
  bus.post(numbered{0, 2});
  bus.post(step{3});
  bus.run_pending();
  EXPECT_THAT(log, ElementsAre("s0", "s1", "n2", "s3"));
}

TYPED_TEST(bus_post_runs, a_run_stops_at_once_when_another_thread_disconnects_the_observer) {
  typename TypeParam::mt bus;
  std::vector<int> seen;  // written by the worker, read after disconnect() returned
  std::atomic<bool> reached{false};
  courier::subscription sub;
  sub = bus.template subscribe<step>([&](const step& e) {
    seen.push_back(e.value);
    if (e.value == 5) {
      // Hold the run here until the main thread's disconnect() has begun.
      reached.store(true);
      while (sub.connected()) std::this_thread::yield();
    }
  });
  post_steps(bus, 50);
  while (!reached.load()) std::this_thread::yield();
  sub.disconnect();  // returns once the run has let go of the observer
  EXPECT_THAT(seen, ElementsAre(0, 1, 2, 3, 4, 5));
  bus.drain();
  EXPECT_EQ(seen.size(), 6U);
}

}  // namespace
