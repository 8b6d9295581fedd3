// The thread-safe buses' rules under real threads, for both observer lists
// (Signals2's and courier's own). Run under ThreadSanitizer in CI; the
// assertions also stand on their own.
#include "courier/bus.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <future>
#include <memory>
#include <thread>
#include <vector>

namespace {

struct ping {
  int from;
};
struct pong {};

// Yields a few times: widens the window in which a call is in progress.
void linger() {
  for (int i = 0; i < 3; ++i) std::this_thread::yield();
}

void wait_until(const std::atomic<int>& value, int at_least) {
  while (value.load() < at_least) std::this_thread::yield();
}

template <class Bus>
class bus_threads : public ::testing::Test {};
using thread_safe_buses = ::testing::Types<courier::bus, courier::snapshot_bus>;
TYPED_TEST_SUITE(bus_threads, thread_safe_buses);

TYPED_TEST(bus_threads, an_observer_is_never_running_after_disconnect_returns) {
  for (int round = 0; round < 100; ++round) {
    TypeParam bus;
    std::atomic<bool> disconnect_returned{false};
    std::atomic<int> calls{0};
    std::atomic<int> violations{0};
    auto sub = bus.template subscribe<ping>([&](const ping&) {
      if (disconnect_returned.load()) ++violations;
      ++calls;
      linger();
      if (disconnect_returned.load()) ++violations;
    });
    std::atomic<bool> stop{false};
    std::atomic<int> publishes{0};
    std::thread publisher([&] {
      while (!stop.load()) {
        bus.publish(ping{0});
        ++publishes;
      }
    });
    wait_until(calls, 1);
    sub.disconnect();
    disconnect_returned.store(true);
    const int after = publishes.load();
    wait_until(publishes, after + 20);
    stop.store(true);
    publisher.join();
    ASSERT_EQ(violations.load(), 0) << "round " << round;
  }
}

TYPED_TEST(bus_threads, state_an_observer_uses_may_be_destroyed_after_disconnect) {
  for (int round = 0; round < 50; ++round) {
    TypeParam bus;
    auto counter = std::make_unique<std::vector<int>>();
    auto* state = counter.get();
    std::atomic<int> calls{0};
    auto sub = bus.template subscribe<ping>([state, &calls](const ping& e) {
      state->push_back(e.from);  // AddressSanitizer catches a use after free
      ++calls;
      linger();
      state->pop_back();
    });
    std::atomic<bool> stop{false};
    std::thread publisher([&] {
      while (!stop.load()) bus.publish(ping{round});
    });
    wait_until(calls, 1);
    sub.disconnect();
    counter.reset();
    stop.store(true);
    publisher.join();
  }
}

TYPED_TEST(bus_threads, many_threads_publish_and_subscribe_at_once) {
  TypeParam bus;
  constexpr int workers = 4;
  constexpr int iterations = 200;
  std::atomic<bool> stop{false};
  std::atomic<int> seen_by_all{0};
  auto all = bus.subscribe_all([&](const courier::event_ref&) { ++seen_by_all; });
  std::thread noise([&] {
    while (!stop.load()) {
      bus.publish(ping{-1});
      bus.publish(pong{});
    }
  });
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int id = 0; id < workers; ++id) {
    threads.emplace_back([&, id] {
      for (int i = 0; i < iterations; ++i) {
        std::atomic<int> own{0};
        auto sub = bus.template subscribe<ping>([&own, id](const ping& e) {
          if (e.from == id) ++own;
        });
        for (int n = 0; n < 3; ++n) bus.publish(ping{id});
        // Publishes this thread made after subscribing must all have arrived.
        if (own.load() != 3) ++failures;
        sub.disconnect();
        const int before = own.load();
        bus.publish(ping{id});
        if (own.load() != before) ++failures;
      }
    });
  }
  for (auto& thread : threads) thread.join();
  stop.store(true);
  noise.join();
  EXPECT_EQ(failures.load(), 0);
  EXPECT_GE(seen_by_all.load(), workers * iterations * 4);
  EXPECT_FALSE(bus.template has_observers<ping>());
}

TYPED_TEST(bus_threads, observers_on_two_threads_may_disconnect_each_other) {
  for (int round = 0; round < 100; ++round) {
    TypeParam bus;
    courier::subscription on_ping;
    courier::subscription on_pong;
    std::atomic<int> entered{0};
    on_ping = bus.template subscribe<ping>([&](const ping&) {
      ++entered;
      wait_until(entered, 2);  // both observers are running now
      on_pong.disconnect();    // must not wait for the other thread's call
    });
    on_pong = bus.template subscribe<pong>([&](const pong&) {
      ++entered;
      wait_until(entered, 2);
      on_ping.disconnect();
    });
    std::thread a([&] { bus.publish(ping{0}); });
    std::thread b([&] { bus.publish(pong{}); });
    a.join();
    b.join();
    EXPECT_FALSE(on_ping.connected());
    EXPECT_FALSE(on_pong.connected());
  }
}

TYPED_TEST(bus_threads, an_owner_released_on_another_thread_is_not_called_after) {
  struct listener {
    std::atomic<int>* calls;
    void on_ping(const ping&) { ++*calls; }
  };
  TypeParam bus;
  std::atomic<int> calls{0};
  auto owner = std::make_shared<listener>(listener{&calls});
  auto sub = bus.subscribe(owner, &listener::on_ping);
  std::atomic<bool> stop{false};
  std::thread publisher([&] {
    while (!stop.load()) bus.publish(ping{0});
  });
  wait_until(calls, 10);
  std::weak_ptr<listener> watch = owner;
  owner.reset();
  while (!watch.expired()) std::this_thread::yield();  // the last call has returned
  const int after_expiry = calls.load();
  for (int i = 0; i < 100; ++i) bus.publish(ping{1});
  stop.store(true);
  publisher.join();
  EXPECT_EQ(calls.load(), after_expiry);
}

TYPED_TEST(bus_threads, subscribing_while_another_thread_is_inside_a_call_does_not_wait) {
  TypeParam bus;
  std::atomic<bool> let_go{false};
  std::atomic<int> inside{0};
  auto stuck = bus.template subscribe<ping>([&](const ping&) {
    ++inside;
    while (!let_go.load()) std::this_thread::yield();
  });
  std::thread publisher([&] { bus.publish(ping{0}); });
  wait_until(inside, 1);
  // Subscribing to the type being published, and subscribing and
  // disconnecting on another type, must all return while that call runs.
  auto work = std::async(std::launch::async, [&] {
    std::vector<courier::subscription> kept;
    for (int i = 0; i < 100; ++i) {
      kept.push_back(bus.template subscribe<ping>([](const ping&) {}));
      auto other = bus.template subscribe<pong>([](const pong&) {});
      other.disconnect();
    }
    return kept;
  });
  const bool returned = work.wait_for(std::chrono::seconds(10)) == std::future_status::ready;
  let_go.store(true);
  publisher.join();
  EXPECT_TRUE(returned) << "subscribe waited for a call on another thread";
  work.get();  // the kept ping subscriptions disconnect here, after the call ended
}

}  // namespace
