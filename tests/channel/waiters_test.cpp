// channel_waiters: progress wakes sleepers, close wakes everyone, and
// wait_until_all_left returns only after the last sleeper left.
#include "courier/detail/channel/waiters.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <thread>

namespace {

using courier::detail::channel_waiters;
using courier::detail::spin_mutex;
using namespace std::chrono_literals;

const auto far_away = [] { return std::chrono::steady_clock::now() + 60s; };

// Waits (without sleeping on a timer) until a thread is asleep in the
// waiters: it holds the lock while it registers, so taking the lock after
// it signalled `about_to_sleep` means it is inside wait_until.
void until(const std::atomic<bool>& flag) {
  while (!flag.load()) std::this_thread::yield();
}

TEST(channel_waiters, a_message_made_ready_wakes_a_sleeping_receiver_and_moves_the_signal) {
  spin_mutex mutex;
  channel_waiters waiters;
  std::atomic<bool> asleep{false}, woke{false};
  std::thread receiver([&] {
    channel_waiters::lock_type lock(mutex);
    asleep = true;
    waiters.sleep_receiver(lock, far_away());
    woke = true;
  });
  until(asleep);
  channel_waiters::lock_type lock(mutex);  // the receiver is waiting now (it let the lock go)
  const auto before = waiters.ready_signal();
  waiters.catch_up(0, 1);  // a settle wakes no receiver
  EXPECT_EQ(waiters.ready_signal(), before);
  waiters.catch_up(1, 1);
  EXPECT_NE(waiters.ready_signal(), before);
  lock.unlock();
  receiver.join();
  EXPECT_TRUE(woke);
}

TEST(channel_waiters, a_settled_message_wakes_a_sleeping_sender) {
  spin_mutex mutex;
  channel_waiters waiters;
  std::atomic<bool> asleep{false};
  std::thread sender([&] {
    channel_waiters::lock_type lock(mutex);
    asleep = true;
    waiters.sleep_sender(lock, far_away());
  });
  until(asleep);
  {
    channel_waiters::lock_type lock(mutex);
    waiters.catch_up(0, 1);
  }
  sender.join();  // would hang for a minute if the settle did not wake it
}

TEST(channel_waiters, close_wakes_everyone_and_the_destructor_waits_until_they_left) {
  spin_mutex mutex;
  channel_waiters waiters;
  std::atomic<int> asleep{0}, left{0};
  std::thread receiver([&] {
    channel_waiters::lock_type lock(mutex);
    ++asleep;
    waiters.sleep_receiver(lock, far_away());
    ++left;
  });
  std::thread sender([&] {
    channel_waiters::lock_type lock(mutex);
    ++asleep;
    waiters.sleep_sender(lock, far_away());
    ++left;
  });
  while (asleep.load() < 2) std::this_thread::yield();
  channel_waiters::lock_type lock(mutex);
  waiters.close();
  waiters.wait_until_all_left(lock);
  EXPECT_EQ(left.load(), 2);
  lock.unlock();
  receiver.join();
  sender.join();
}

}  // namespace
