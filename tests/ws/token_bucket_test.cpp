// A connection's rate limit (src/ws/token_bucket.hpp): full at the start,
// refilled at rate per second, never above rate. Time is passed in.
#include "token_bucket.hpp"

#include <gtest/gtest.h>

namespace {

using namespace std::chrono_literals;
using courier::ws::detail::token_bucket;

TEST(ws_token_bucket, a_burst_of_rate_frames_passes_and_the_next_waits_for_the_refill) {
  const auto start = std::chrono::steady_clock::time_point{} + 1h;
  token_bucket bucket(10, start);
  for (int i = 0; i < 10; ++i) EXPECT_TRUE(bucket.take(start)) << i;
  EXPECT_FALSE(bucket.take(start));
  EXPECT_FALSE(bucket.take(start + 99ms)) << "a tenth of a second refills one token";
  EXPECT_TRUE(bucket.take(start + 101ms));
  EXPECT_FALSE(bucket.take(start + 101ms));
}

TEST(ws_token_bucket, a_quiet_connection_saves_up_no_more_than_rate) {
  const auto start = std::chrono::steady_clock::time_point{} + 1h;
  token_bucket bucket(5, start);
  const auto later = start + 1min;
  for (int i = 0; i < 5; ++i) EXPECT_TRUE(bucket.take(later)) << i;
  EXPECT_FALSE(bucket.take(later));
}

}  // namespace
