// The channel's spin locks: short_spin_lock excludes, and a lock_ahead()
// goes before every lock() still waiting when it announced itself.
#include "courier/detail/spin_then_block.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <string>
#include <thread>
#include <vector>

namespace {

using courier::detail::short_spin_lock;

template <class Ready>
void until(Ready&& ready) {
  while (!ready()) std::this_thread::yield();
}

TEST(short_spin_lock, a_lock_ahead_goes_before_a_lock_that_is_waiting) {
  // Repeated: without the rule, the two waiters race for the lock when it
  // is let go, and the plain lock() wins about half of the rounds.
  for (int round = 0; round < 200; ++round) {
    short_spin_lock lock;
    lock.lock();
    std::string order;  // written only while holding lock
    std::thread ahead([&] {
      lock.lock_ahead();
      order += 'a';
      lock.unlock();
    });
    until([&] { return lock.one_waits_ahead(); });
    std::atomic<bool> started{false};
    std::thread plain([&] {
      started = true;
      lock.lock();
      order += 'p';
      lock.unlock();
    });
    until([&] { return started.load(); });
    lock.unlock();
    ahead.join();
    plain.join();
    ASSERT_EQ(order, "ap") << "round " << round;
  }
}

TEST(short_spin_lock, excludes_lockers_of_both_kinds) {
  short_spin_lock lock;
  long long counter = 0;  // unguarded but for the lock: TSan and the total catch a second holder
  constexpr int per_thread = 20'000;
  std::vector<std::thread> threads;
  for (int t = 0; t < 2; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < per_thread; ++i) {
        lock.lock();
        ++counter;
        lock.unlock();
      }
    });
  }
  threads.emplace_back([&] {  // one thread at a time may lock ahead
    for (int i = 0; i < per_thread; ++i) {
      lock.lock_ahead();
      ++counter;
      lock.unlock();
    }
  });
  for (auto& thread : threads) thread.join();
  EXPECT_EQ(counter, 3LL * per_thread);
  EXPECT_FALSE(lock.one_waits_ahead());
}

}  // namespace
