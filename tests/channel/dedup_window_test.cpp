// dedup_window: a key answers within the window, not after; forgotten keys
// are gone; a zero window is off.
#include "courier/detail/channel/dedup_window.hpp"

#include <gtest/gtest.h>

#include <chrono>

namespace {

using courier::clock;
using courier::message_id;
using courier::detail::dedup_key;
using courier::detail::dedup_window;
using courier::detail::first_send;
using namespace std::chrono_literals;

const clock::time_point t0{};

TEST(dedup_window, a_key_finds_its_first_send_within_the_window_and_nothing_after) {
  dedup_window window(100ms);
  EXPECT_TRUE(window.enabled());
  window.remember(dedup_key("order-7"), first_send{message_id{7}, 3}, t0);
  const first_send* seen = window.find(dedup_key("order-7"), t0 + 99ms);
  ASSERT_NE(seen, nullptr);
  EXPECT_EQ(seen->id, message_id{7});
  EXPECT_EQ(seen->sequence, 3u);
  EXPECT_EQ(window.find(dedup_key("order-8"), t0 + 99ms), nullptr);
  EXPECT_EQ(window.find(dedup_key("order-7"), t0 + 100ms), nullptr);
  EXPECT_EQ(window.size(), 0u);
}

TEST(dedup_window, a_forgotten_key_is_new_again) {
  dedup_window window(1s);
  const dedup_key key("k");
  window.remember(key, first_send{message_id{1}, 1}, t0);
  window.forget(key);
  EXPECT_EQ(window.find(key, t0), nullptr);
}

TEST(dedup_window, keys_expire_oldest_first) {
  dedup_window window(10ms);
  window.remember(dedup_key("a"), first_send{message_id{1}, 1}, t0);
  window.remember(dedup_key("b"), first_send{message_id{2}, 2}, t0 + 5ms);
  window.expire(t0 + 12ms);
  EXPECT_EQ(window.size(), 1u);
  EXPECT_NE(window.find(dedup_key("b"), t0 + 12ms), nullptr);
}

TEST(dedup_window, a_zero_window_is_off_and_an_empty_key_is_no_key) {
  EXPECT_FALSE(dedup_window(0ms).enabled());
  EXPECT_TRUE(dedup_key().empty());
  EXPECT_EQ(dedup_key("x").hash, dedup_key("x").hash);
}

}  // namespace
