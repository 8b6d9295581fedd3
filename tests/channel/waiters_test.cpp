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
    waiters.sleep_receiver(lock, far_away(), [] { return true; });
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

// A sleeping receiver is counted in receivers_waiting (the channel's
// intake reads it to know a plain send must wake someone), and a receiver
// whose last look finds something new does not sleep at all.
TEST(channel_waiters, a_sleeping_receiver_is_counted_and_one_whose_last_look_finds_something_does_not_sleep) {
  spin_mutex mutex;
  channel_waiters waiters;
  std::atomic<bool> asleep{false};
  std::thread receiver([&] {
    channel_waiters::lock_type lock(mutex);
    waiters.sleep_receiver(lock, far_away(), [&] {
      asleep = true;
      return true;
    });
  });
  until(asleep);
  {
    channel_waiters::lock_type lock(mutex);  // the receiver is inside wait_until now
    EXPECT_EQ(waiters.receivers_waiting().load(), 1);
    waiters.catch_up(1, 0);
  }
  receiver.join();
  EXPECT_EQ(waiters.receivers_waiting().load(), 0);

  channel_waiters::lock_type lock(mutex);
  bool looked = false;
  const auto started = std::chrono::steady_clock::now();
  waiters.sleep_receiver(lock, far_away(), [&] {
    looked = true;
    EXPECT_EQ(waiters.receivers_waiting().load(), 1) << "counted before the last look";
    return false;  // something came
  });
  EXPECT_TRUE(looked);
  EXPECT_LT(std::chrono::steady_clock::now() - started, std::chrono::seconds(30)) << "it did not sleep";
  EXPECT_EQ(waiters.receivers_waiting().load(), 0);
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
    waiters.sleep_receiver(lock, far_away(), [] { return true; });
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
